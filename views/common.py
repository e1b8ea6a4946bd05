"""Streamlit-side helpers shared by the pages: cached model/detector loading and settings.

Everything heavy is created once per process with `st.cache_resource` (the classifier and the
detectors are thread-safe: they serialise their interpreters internally)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from maskdash import settings


@st.cache_resource(show_spinner="Loading the mask classifier…")
def get_classifier(path: str | None = None):
    from maskdash.classifier import MaskClassifier

    return MaskClassifier.load(path)


@st.cache_resource(show_spinner="Loading the face detector…")
def get_detector(name: str):
    """Returns (detector, message): message is set when `name` was unavailable and a fallback
    is used instead."""
    from maskdash.detection import make_detector_or_fallback

    return make_detector_or_fallback(name)


@st.cache_resource(show_spinner="Loading the Keras model…")
def get_keras_model(recipe: str = "robust"):
    from maskdash.model import load_model

    path = settings.shipped_model_path(recipe)
    return load_model(path) if path.is_file() else None


def data_available() -> bool:
    return (settings.facemask12k_dir() / "Test").is_dir()


def model_dir(recipe: str) -> Path:
    return settings.shipped_model_dir(recipe)
