"""Failure analysis: the registered studies (studies) and their run loop (run), what they work on
(sources), yaw from landmarks (yaw, landmarks), drawn occluders (occluders), masks drawn below the
nose (below_nose), binary and three-class calls and the extra faces (calls), results and headlines
(results), the one mistakes gallery (mistakes) and example recipes (examples)."""
