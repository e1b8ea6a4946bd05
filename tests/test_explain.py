"""Grad-CAM and feature maps on a real MobileNetV2 classifier (ImageNet base, fresh head) and
real Face Mask 12K faces."""

from __future__ import annotations

import numpy as np
import pytest

from maskdash.imaging import load_rgb, to_input


@pytest.fixture(scope="module")
def model(base_weights):
    from maskdash.model.network import build_model

    return build_model("robust", base_weights=base_weights)


@pytest.fixture(scope="module")
def faces(fm12k):
    """A masked and an unmasked real face, 224×224 RGB."""
    return [to_input(load_rgb(fm12k / p)) for p in ("Test/WithMask/1565.jpg", "Test/WithoutMask/2870.jpg")]


def _probs(model, face):
    return np.asarray(model(face[None].astype(np.float32), training=False))[0]


def test_heat_map_shape_range_and_content(model, faces):
    from maskdash.model.explain import gradcam

    heats = [gradcam(model, f) for f in faces]
    for h in heats:
        assert h.shape == (224, 224) and h.dtype == np.float32
        assert h.min() >= 0.0 and h.max() == pytest.approx(1.0)
        assert h.std() > 0.05  # a map, not a constant
    assert np.abs(heats[0] - heats[1]).mean() > 0.05  # different faces, different maps


def test_explains_the_models_own_prediction(model, faces):
    from maskdash.model.explain import explain, gradcam

    for face in faces:
        probs = _probs(model, face)
        res = explain(model, face)
        # The rebuilt gradient path computes exactly what the model computes.
        np.testing.assert_allclose(res.probs, probs, atol=1e-5)
        assert res.class_index == int(np.argmax(probs))
        np.testing.assert_allclose(gradcam(model, face, None), gradcam(model, face, res.class_index), atol=1e-6)
        other = explain(model, face, 1 - res.class_index)
        assert other.class_index == 1 - res.class_index
        assert not np.allclose(other.heat, res.heat)


def test_matches_class_activation_map(model, faces):
    """With global average pooling, Grad-CAM of the log-odds has a closed form (Zhou et al.'s CAM):
    relu(A · (w_c − w_other)), A the out_relu features and w the Dense kernel columns."""
    from maskdash.model.explain import explain, feature_maps

    kernel = np.asarray(model.get_layer("probs").kernel)
    for face in faces:
        res = explain(model, face)
        a = feature_maps(model, face, "out_relu")
        assert a.shape == (7, 7, 1280)
        cam = np.maximum(a @ (kernel[:, res.class_index] - kernel[:, 1 - res.class_index]), 0)
        np.testing.assert_allclose(res.coarse, cam / cam.max(), atol=1e-4)


def test_any_face_size_and_bad_input(model, faces):
    from maskdash.model.explain import explain, feature_maps, gradcam

    small = faces[0][::3, ::3]  # 75×75 crop: resized like every classifier input
    assert gradcam(model, small).shape == (224, 224)
    with pytest.raises(ValueError, match="H×W×3"):
        gradcam(model, faces[0][..., 0])
    with pytest.raises(ValueError, match="class_index"):
        explain(model, faces[0], 2)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        feature_maps(model, faces[0], "nope")


def test_feature_maps(model, faces):
    from maskdash.model.explain import feature_maps, layer_names_4d
    from maskdash.model.network import get_base

    fm = feature_maps(model, faces[0], "block_1_expand_relu")
    assert fm.shape == (112, 112, 96) and fm.dtype == np.float32
    assert fm.min() >= 0 and fm.max() <= 6.0  # ReLU6
    assert not np.allclose(fm, feature_maps(model, faces[1], "block_1_expand_relu"))
    names = layer_names_4d(get_base(model))
    assert "block_1_expand_relu" in names and names[-1] == "out_relu"


def test_overlay_colours(faces):
    from maskdash.model.explain import overlay

    face = faces[0]
    heat = np.zeros((224, 224), np.float32)
    heat[:112] = 1.0
    out = overlay(face, heat, alpha=1.0)
    assert out.shape == face.shape and out.dtype == np.uint8
    # JET: hottest is dark red, coldest dark blue, in RGB order.
    np.testing.assert_array_equal(out[50, 50], [128, 0, 0])
    np.testing.assert_array_equal(out[200, 200], [0, 0, 128])
    np.testing.assert_array_equal(overlay(face, heat, alpha=0.0), face)
    blend = overlay(face[:100, :80], heat)  # the map is resized to the face
    assert blend.shape == (100, 80, 3)
    with pytest.raises(ValueError, match="alpha"):
        overlay(face, heat, alpha=1.5)
