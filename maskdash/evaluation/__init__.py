"""Evaluation: metrics, probes and per-split reports (evaluate), the shipped model's report and model
card writer (report), and the reader of the committed reports under models/ (shipped)."""
