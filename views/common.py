"""Streamlit-side helpers shared by the pages: cached model/detector loading and settings.

Everything heavy is created once per process with `st.cache_resource` (the classifier and the
detectors are thread-safe: they serialise their interpreters internally)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from maskdash import settings


def load_srtp_safely() -> None:
    """Load aiortc's SRTP library (pylibsrtp, used by the Live page) so that TensorFlow cannot
    crash it. pylibsrtp exports the OpenSSL it links statically; loaded after TensorFlow, its
    calls bind to TensorFlow's own copy and the whole server dies with a segfault in srtp_init
    (seen: visit How it works, then Live). RTLD_DEEPBIND makes it use its own symbols whatever
    was loaded before; every page imports this module, so it runs before the first stream."""
    if "pylibsrtp" in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        import pylibsrtp  # noqa: F401
    except ImportError:  # no live video support installed: nothing to protect
        pass
    finally:
        sys.setdlopenflags(flags)


load_srtp_safely()


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


def data_hint(what: str) -> None:
    """How to get the data, shown wherever a feature needs the data folder."""
    st.info(
        f"{what} needs the data folder, which was not found at `{settings.data_dir()}`. "
        "Set the environment variable `MASKDASH_DATA` to a folder holding `facemask12k/` "
        "(Face Mask 12K: `Train/ Validation/ Test/` × `WithMask/ WithoutMask/`) and "
        "`face-mask-detection-dev/` (scene photos with Pascal VOC annotations), then restart "
        "the app: `MASKDASH_DATA=/path/to/data streamlit run app.py`.",
        icon=":material/folder_off:",
    )


def reports_hint(recipe: str, what: str = "reports") -> None:
    from maskdash import reports

    st.warning(
        f"No {what} for the **{recipe}** model in `{reports.recipe_dir(recipe)}`. They are written by "
        f"`python -m maskdash report` after training (`python -m maskdash train --recipe {recipe}`).",
        icon=":material/description:",
    )


def safe_report(loader, *args):
    """Call a maskdash.reports loader; a damaged file becomes an error box instead of a traceback."""
    from maskdash.reports import ReportError

    try:
        return loader(*args)
    except ReportError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def pct(value, digits: int = 2) -> str:
    return "–" if value is None or value != value else f"{100 * float(value):.{digits}f} %"


def live_model_path() -> str | None:
    """`MASKDASH_MODEL` (a .keras or .tflite file, to try another model), else None: the shipped one."""
    import os

    return os.environ.get("MASKDASH_MODEL", "").strip() or None


@st.cache_resource(show_spinner="Preparing the mask classifier for live video (once; up to a minute)…")
def get_live_classifier(path: str | None = None):
    """The classifier for the live video path, always on TFLite: in the server, beside aiortc's
    threads, a Keras model managed ~1 frame/s (its many GIL hand-offs per call convoy behind the
    video threads) where the same model on TFLite ran ~14 frames/s. A `.keras` file without its
    `.tflite` sibling is converted once, in memory (float32, same outputs). One interpreter thread
    (see maskdash.pipeline) and every batch size the pipeline uses warmed before the first frame.
    `path` None: the shipped model."""
    from pathlib import Path as _Path

    import numpy as np

    from maskdash.classifier import MaskClassifier, TFLiteRunner
    from maskdash.pipeline import LIVE_CLASSIFIER_THREADS, PipelineConfig

    if path is None:
        tfl = settings.shipped_model_dir() / "model.tflite"
        path = str(tfl if tfl.is_file() else settings.shipped_model_path())
    src = _Path(path)
    sibling = src.with_suffix(".tflite")
    if src.suffix == ".keras" and sibling.is_file():
        src = sibling
    if src.suffix == ".keras" and src.is_file():
        import contextlib
        import io

        from maskdash.model import load_model, to_tflite

        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every tensor it saves
            content = to_tflite(load_model(src), "none")
        runner = TFLiteRunner(content, threads=LIVE_CLASSIFIER_THREADS)
        clf = MaskClassifier(runner, src, "tflite")
    else:  # .tflite, or a missing file (MaskClassifier.load raises FileNotFoundError with the path)
        clf = MaskClassifier.load(src, warm_up=False, threads=LIVE_CLASSIFIER_THREADS)
    for n in range(1, (PipelineConfig().classify_budget or 5) + 1):
        clf.predict(np.zeros((n, clf.input_size, clf.input_size, 3), np.uint8))
    return clf
