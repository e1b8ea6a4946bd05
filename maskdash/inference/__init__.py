"""From pictures to verdicts: face detectors (detection), crops and the classifier call (faces), the
one face record and result type (results), tracking and smoothing (tracking), the live per-frame
pipeline (pipeline), the Live and Photos logic (live, photos), drawing (draw) and the live
benchmark (bench)."""
