"""Streamlit-side helpers shared by the pages: cached model/detector loading and settings.

Everything heavy is created once per process with `st.cache_resource` (the classifier and the
detectors are thread-safe: they serialise their interpreters internally)."""

from __future__ import annotations

import os
import sys

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


def get_classifier(live: bool = False):
    """The classifier every page uses: `MASKDASH_MODEL`, else the shipped model, through the one
    runtime. `live`: one interpreter thread and the live pipeline's batch sizes warmed before the
    first frame (see maskdash.inference.pipeline). Raises ModelFileError / FileNotFoundError with a
    message for the user."""
    clf = _classifier(str(settings.model_path()), live)
    if clf.warning:  # e.g. a shipped file whose checksum does not match
        st.warning(clf.warning, icon=":material/warning:")
    return clf


@st.cache_resource(show_spinner="Loading the mask classifier (once; a .keras file takes up to a minute)…")
def _classifier(path: str, live: bool):
    from maskdash.inference.pipeline import LIVE_CLASSIFIER_THREADS, PipelineConfig
    from maskdash.model.runtime import load_classifier

    if live:
        return load_classifier(path, threads=LIVE_CLASSIFIER_THREADS, warm_up=PipelineConfig().classify_budget or 5)
    return load_classifier(path)


@st.cache_resource(show_spinner="Loading the Keras model…")
def get_keras_model(recipe: str = "robust"):
    """The shipped recipe's Keras model, for Grad-CAM and feature maps (None when not committed)."""
    from maskdash.model.network import load_model

    path = settings.shipped_model_path(recipe)
    return load_model(path) if path.is_file() else None


@st.cache_resource(show_spinner="Loading the face detector…")
def get_detector(name: str):
    """Returns (detector, message): message is set when `name` was unavailable and a fallback
    is used instead."""
    from maskdash.inference.detection import make_detector_or_fallback

    return make_detector_or_fallback(name)


def data_available() -> bool:
    return (settings.facemask12k_dir() / "Test").is_dir()


def data_hint(what: str) -> None:
    """How to get the data, shown wherever a feature needs the data folder."""
    st.info(
        f"{what} needs the data folder, which was not found at `{settings.display_path(settings.data_dir())}`. "
        "Set the environment variable `MASKDASH_DATA` to a folder holding `facemask12k/` "
        "(Face Mask 12K: `Train/ Validation/ Test/` × `WithMask/ WithoutMask/`) and "
        "`face-mask-detection-dev/` (scene photos with Pascal VOC annotations), then restart "
        "the app: `MASKDASH_DATA=/path/to/data streamlit run app.py`.",
        icon=":material/folder_off:",
    )


def reports_hint(recipe: str, what: str = "reports") -> None:
    from maskdash.evaluation import shipped

    st.warning(
        f"No {what} for the **{recipe}** model in `{settings.display_path(shipped.recipe_dir(recipe))}`. They are written by "
        f"`python -m maskdash report` after training (`python -m maskdash train --recipe {recipe}`).",
        icon=":material/description:",
    )


def safe_report(loader, *args):
    """Call a maskdash.evaluation.shipped loader; a damaged file becomes an error box instead of a traceback."""
    from maskdash.evaluation.shipped import ReportError

    try:
        return loader(*args)
    except ReportError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def pct(value, digits: int = 2) -> str:
    return "–" if value is None or value != value else f"{100 * float(value):.{digits}f} %"
