"""MaskDash: face-mask detection and classification, importable without Streamlit."""

__version__ = "0.1.0"
