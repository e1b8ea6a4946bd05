"""Seeing what the classifier looks at: Grad-CAM heat maps and raw feature maps.

Grad-CAM (Selvaraju et al. 2017; the recipe of the keras-io "Grad-CAM class activation
visualization" example): take the last convolutional feature map A (7×7×1280, MobileNetV2's
"out_relu"), the gradient of a class score with respect to it, average that gradient over the
positions to get one weight per channel, and ReLU the weighted sum of the channels.

Two choices differ from the keras-io example, both for this model's shape:
- The base is a *nested* keras.Model, so `model.get_layer("out_relu")` does not exist in the outer
  graph. The path preprocess → base up to out_relu → rest of the base → head is rebuilt from the
  model's own layers (shared weights), and the tape watches the feature map itself.
- The score is the class's log-odds computed from the logits (the final Dense before its
  softmax): z_c − logsumexp(z_others), which for two classes is z_c − z_other. keras-io uses the
  raw logit z_c; with a 2-way softmax only the difference of the logits matters, so a single logit
  can rise with evidence for both classes. The probability p_c itself is no better: it saturates,
  and for a confident face its gradient rounds to zero in float32, giving a blank map.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import cv2

from maskdash import settings

settings.quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from maskdash.imaging import INPUT_SIZE, to_input  # noqa: E402
from maskdash.model.network import get_base, head_layers  # noqa: E402

CAM_LAYER = "out_relu"  # MobileNetV2's last conv activation (7×7×1280 at 224 px)


@dataclass
class CamResult:
    heat: np.ndarray  # INPUT_SIZE×INPUT_SIZE float32 in [0, 1]
    coarse: np.ndarray  # the map at feature resolution (7×7), before upsampling, in [0, 1]
    class_index: int  # the class explained
    probs: np.ndarray  # the model's class probabilities for this face


class _Paths:
    """Sub-models cut from one classifier, built once per model (building costs ~0.1 s)."""

    def __init__(self, model: keras.Model):
        self.base = get_base(model)
        self.preprocess = model.get_layer("preprocess")
        self._features: dict[str, keras.Model] = {}
        head = head_layers(model)
        if not head or not isinstance(head[-1], keras.layers.Dense):
            raise ValueError("the model's last layer must be a Dense classifier")
        self.hidden, self.dense = head[:-1], head[-1]
        act = getattr(self.dense.activation, "__name__", "")
        if act not in ("softmax", "linear"):
            raise ValueError(f"cannot take logits through a {act!r} output layer")
        cut = self.base.get_layer(CAM_LAYER)
        # Whatever of the base follows the CAM layer (nothing for MobileNetV2 without pooling).
        self.base_rest = (
            None if cut is self.base.layers[-1]
            else keras.Model(cut.output, self.base.output, name="base_rest")
        )

    def features(self, layer_name: str) -> keras.Model:
        if layer_name not in self._features:
            try:
                out = self.base.get_layer(layer_name).output
            except ValueError:
                names = layer_names_4d(self.base)
                raise ValueError(
                    f"no layer {layer_name!r} in the base; e.g. {', '.join(names[:3])} … {names[-1]}"
                ) from None
            self._features[layer_name] = keras.Model(self.base.input, out, name=f"to_{layer_name}")
        return self._features[layer_name]

    def logits(self, feats):
        x = feats if self.base_rest is None else self.base_rest(feats, training=False)
        for layer in self.hidden:
            x = layer(x, training=False)
        z = keras.ops.matmul(x, self.dense.kernel)
        return z + self.dense.bias if self.dense.use_bias else z


_PATHS: "weakref.WeakKeyDictionary[keras.Model, _Paths]" = weakref.WeakKeyDictionary()


def _paths(model: keras.Model) -> _Paths:
    if model not in _PATHS:
        _PATHS[model] = _Paths(model)
    return _PATHS[model]


def layer_names_4d(base: keras.Model) -> list[str]:
    """Base layers whose output is an image-like H×W×C map (choices for `feature_maps`)."""
    return [layer.name for layer in base.layers if len(layer.output.shape) == 4]


def _batch(face_rgb: np.ndarray) -> np.ndarray:
    face = np.asarray(face_rgb)
    if face.ndim != 3 or face.shape[2] != 3 or min(face.shape[:2]) < 1:
        raise ValueError(f"expected an H×W×3 RGB face, got an array of shape {face.shape}")
    if face.shape[:2] != (INPUT_SIZE, INPUT_SIZE):
        face = to_input(face.astype(np.uint8) if face.dtype != np.uint8 else face)
    return face.astype(np.float32)[None]


def explain(model: keras.Model, face_rgb_224: np.ndarray, class_index: int | None = None) -> CamResult:
    """Grad-CAM for one face (raw RGB, 0…255; resized to 224 if needed). `class_index` None
    explains the predicted class; 0 = with_mask, 1 = without_mask."""
    import tensorflow as tf

    p = _paths(model)
    x = tf.convert_to_tensor(_batch(face_rgb_224))
    feats = p.features(CAM_LAYER)(p.preprocess(x), training=False)
    with tf.GradientTape() as tape:
        tape.watch(feats)
        z = p.logits(feats)
        n = int(z.shape[-1])
        probs = tf.nn.softmax(z)[0].numpy()
        c = int(np.argmax(probs)) if class_index is None else int(class_index)
        if not 0 <= c < n:
            raise ValueError(f"class_index must be between 0 and {n - 1}, got {class_index}")
        others = tf.concat([z[:, :c], z[:, c + 1 :]], axis=1)
        score = z[:, c] - tf.reduce_logsumexp(others, axis=1)  # log-odds of class c
    grads = tape.gradient(score, feats)[0]  # 7×7×C
    weights = tf.reduce_mean(grads, axis=(0, 1))  # one weight per channel
    cam = np.maximum(tf.tensordot(feats[0], weights, axes=1).numpy(), 0.0)
    top = float(cam.max())
    # No positive evidence anywhere: an all-zero map (keras-io would divide by zero here).
    coarse = (cam / top if top > 1e-12 else np.zeros_like(cam)).astype(np.float32)
    heat = cv2.resize(coarse, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    peak = float(heat.max())
    heat = np.clip(heat / peak if peak > 1e-12 else heat, 0.0, 1.0).astype(np.float32)
    return CamResult(heat, coarse, c, probs)


def gradcam(model: keras.Model, face_rgb_224: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """224×224 heat map in [0, 1] of where the evidence for `class_index` lies (None: the
    predicted class; 0 = with_mask)."""
    return explain(model, face_rgb_224, class_index).heat


def overlay(face_rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heat map in the JET colour map (blue = none, red = most) blended over the face; the
    map is resized to the face, so any crop size works. Returns RGB uint8."""
    face = np.asarray(face_rgb)
    if face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 RGB face, got an array of shape {face.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    h, w = face.shape[:2]
    heat = np.clip(np.nan_to_num(np.asarray(heat, np.float32)), 0.0, 1.0)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    out = (1.0 - alpha) * face.astype(np.float32) + alpha * colour
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def feature_maps(model: keras.Model, face_rgb_224: np.ndarray, layer_name: str) -> np.ndarray:
    """H×W×C activations of any layer inside the base for one face (e.g. 'block_1_expand_relu'
    is 112×112×96: early layers respond to edges and colour, late ones to parts)."""
    p = _paths(model)
    x = p.preprocess(_batch(face_rgb_224))
    return np.asarray(p.features(layer_name)(x, training=False))[0]
