"""Failure analysis: the registered studies (studies) and their run loop (run), what they work on
(sources), yaw from landmarks (yaw, landmarks), drawn occluders (occluders), results and headlines
(results), the one mistakes gallery (mistakes) and example recipes (examples)."""
