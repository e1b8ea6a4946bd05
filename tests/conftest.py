"""Shared fixtures. Optional resources (the data in ../shared, Chromium) skip with a reason on a
user's machine; with MASKDASH_REQUIRE_ALL=1 (set by .ci/run) a missing one fails instead."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import views.common  # noqa: E402,F401  first: loads aiortc's SRTP library before TensorFlow can
from maskdash import settings  # noqa: E402


def need(condition: bool, reason: str) -> None:
    """Skip (or, under MASKDASH_REQUIRE_ALL, fail) when an optional resource is missing."""
    if condition:
        return
    if settings.require_all():
        pytest.fail(f"required resource missing (MASKDASH_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fm12k() -> Path:
    root = settings.facemask12k_dir()
    need((root / "Test").is_dir(), f"Face Mask 12K not found at {root} (set MASKDASH_DATA)")
    return root


@pytest.fixture(scope="session")
def dev_scenes() -> Path:
    root = settings.dev_scenes_dir()
    need((root / "annotations").is_dir(), f"dev scenes not found at {root} (set MASKDASH_DATA)")
    return root


@pytest.fixture(scope="session")
def extra_faces() -> Path:
    root = settings.extra_faces_dir()
    need((root / "index.csv").is_file(), f"extra faces not found at {root} (set MASKDASH_DATA)")
    return root


@pytest.fixture(scope="session")
def ray_installed() -> None:
    """Ray (the optional `predict --engine ray`, requirements-scale.txt)."""
    import importlib.util

    need(importlib.util.find_spec("ray") is not None, "Ray is not installed (pip install -r requirements-scale.txt)")


@pytest.fixture(scope="session")
def base_weights() -> str:
    w = settings.base_weights()
    need(w != "imagenet", "local MobileNetV2 ImageNet weights not found (set MASKDASH_BASE_WEIGHTS)")
    return w


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    path = settings.shipped_model_path()
    assert path.is_file(), f"the shipped model is missing: {path}"
    return path


@pytest.fixture(scope="session")
def shipped_classifier():
    """The shipped classifier, loaded once for the whole test session (as the app loads it)."""
    from maskdash.model.runtime import load_classifier

    assert (settings.shipped_model_dir() / "model.tflite").is_file(), "the shipped model.tflite is missing"
    return load_classifier()


@pytest.fixture(scope="session")
def shipped_scene_results(shipped_classifier, dev_scenes):
    """`evaluate_scenes` of the shipped classifier (faces cut from the dev scenes' labelled boxes),
    run once for the session: the two- and three-class checks read the same ~3,600 verdicts."""
    from maskdash.evaluation import evaluate

    return evaluate.evaluate_scenes(shipped_classifier, dev_scenes, progress=False)


@pytest.fixture(scope="session")
def binary_model() -> Path:
    """A binary model file: the original recipe (models/seed), for what a two-class model gives."""
    path = settings.MODELS_DIR / "seed" / "model.keras"
    assert path.is_file(), f"the seed model is missing: {path}"
    return path


@pytest.fixture(scope="session")
def binary_classifier(binary_model):
    from maskdash.model.runtime import load_classifier

    clf = load_classifier(binary_model)
    assert clf.units == 2
    return clf


# Test modules that run real browsers, real training or whole-data-set passes. `pytest -m "not slow"`
# leaves them out (the fast unit tests, a few minutes on 2 cores); the README's command and CI run all.
SLOW_MODULES = {
    "test_live_browser", "test_pages_browser", "test_train", "test_online", "test_analysis",
    "test_failure_page", "test_shipped_model", "test_audit", "test_explain", "test_three_class_model", "test_three_class_studies",
    "test_live_latency", "test_predict_ray",
}
BROWSER_MODULES = {"test_live_browser", "test_pages_browser", "test_live_latency"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.module.__name__.rsplit(".", 1)[-1]
        if name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if name in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def media_managers(monkeypatch) -> list:
    """The media file managers AppTest creates, so that a test can read the images and downloads
    a page serves (tests/media.py)."""
    import streamlit.testing.v1.app_test as app_test_module

    made = []

    class Recording(app_test_module.MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return made


# -- a real three-class model, made from the shipped binary one ------------------------------------
# `network.widen` gives the shipped model a third output (mask_incorrect); its weights are then set
# so that the model answers predictably: the new class is the without_mask unit with a bias e
# higher, so a face the binary model finds masked stays with_mask (p_mask still near 1) and a face it
# finds unmasked becomes mask_incorrect (p_incorrect = e·p_without). A real Keras model run by the
# real runtime, whose answers a test can foresee — as a mask worn below the nose would be.
BELOW_NOSE_BIAS = 1.0


@pytest.fixture(scope="session")
def below_nose_keras():
    import numpy as np

    from maskdash.model.network import load_model, widen

    model = widen(load_model(settings.shipped_model_dir() / "model.keras"), 3)
    dense = model.get_layer("probs")
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    kernel[:, 2], bias[2] = kernel[:, 1], bias[1] + BELOW_NOSE_BIAS
    dense.set_weights([kernel, bias])
    return model


@pytest.fixture(scope="session")
def below_nose_classifier(below_nose_keras):
    """The three-class model as a MaskClassifier (run by Keras: no conversion, for speed)."""
    from maskdash.model.runtime import from_keras_model

    clf = from_keras_model(below_nose_keras, "below_nose.keras", engine="keras")
    assert clf.units == 3
    return clf


@pytest.fixture(scope="session")
def below_nose_tflite(below_nose_keras, tmp_path_factory) -> Path:
    """The three-class model as a .tflite file (for the command line and the pages: MASKDASH_MODEL)."""
    from maskdash.model.runtime import to_tflite

    path = tmp_path_factory.mktemp("three_class") / "below_nose.tflite"
    path.write_bytes(to_tflite(below_nose_keras, "none"))
    return path
