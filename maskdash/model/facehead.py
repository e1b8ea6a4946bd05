"""The face head: MaskDash's own face detector for the faces YuNet does not see in photos.

In street photos YuNet misses masked, turned, half-hidden and blurred faces, small ones and some
of 32 px and more even after a second look (`maskdash.inference.multiscale`). The face head
learns such faces from the dev scenes' train fold (its annotators' boxes, masks included): a
CenterNet-style head — a heat map of face centres, a box size and a sub-cell offset per cell of a
stride-8 grid — on the frozen ImageNet MobileNetV2's stride-8 and stride-16 features. Frozen, because 246 photos cannot train a backbone;
the features are computed once per augmented photo and only the head (~120 k weights) trains
(`maskdash.train.facehead`), so the detector trains on a 2-core CPU in about half an hour.

The detector is one model: raw RGB (1×512×512×3, the photo letterboxed into the top-left
corner) in, 1×64×64×5 (heat logit, log box width and height in cells, centre offset x, y) out.
`decode` turns that into boxes in photo pixels."""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 512  # the head's input square; a photo is scaled so that its long side fits
STRIDE = 8
GRID = SIDE // STRIDE
FEATURES = ("block_6_expand_relu", "block_13_expand_relu")  # stride 8 (192 ch) and 16 (576 ch)
OUTPUTS = 5  # heat logit, log w, log h, offset x, offset y
WIDTH = 64  # the head's channels
NMS_IOU = 0.4  # the detector merges its boxes overlapping this much (inference.facehead)


def letterbox(rgb: np.ndarray, long_side: int = SIDE, offset: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, float]:
    """`rgb` scaled so that its long side is `long_side`, on a black SIDE×SIDE canvas at `offset`;
    returns (canvas, scale: head pixels per photo pixel)."""
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    img = cv2.resize(np.ascontiguousarray(rgb), (nw, nh), interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    canvas = np.zeros((SIDE, SIDE, 3), np.uint8)
    canvas[offset[1]:offset[1] + nh, offset[0]:offset[0] + nw] = img
    return canvas, scale


def build_backbone(base_weights: str):
    """Raw RGB → (stride-8, stride-16) features of the frozen ImageNet MobileNetV2."""
    import keras

    from maskdash.model.network import imagenet_base

    mnet = keras.applications.MobileNetV2(input_shape=(SIDE, SIDE, 3), include_top=False, weights=None)
    mnet.set_weights(imagenet_base(base_weights).get_weights())  # same weights at any input size
    features = keras.Model(mnet.input, [mnet.get_layer(n).output for n in FEATURES], name="mobilenetv2_features")
    features.trainable = False
    rgb = keras.Input((SIDE, SIDE, 3), name="rgb")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="to_unit")(rgb)  # MobileNetV2's [-1, 1]
    f8, f16 = features(x, training=False)
    return keras.Model(rgb, [f8, f16], name="backbone")


def build_head(dropout: float = 0.1):
    """(stride-8, stride-16) features → the stride-8 grid of OUTPUTS. The stride-16 features are
    brought up and added: a face of 32–100 px is best seen there, a small one at stride 8."""
    import keras

    f8 = keras.Input((GRID, GRID, 192), name="f8")
    f16 = keras.Input((GRID // 2, GRID // 2, 576), name="f16")
    # Linear projections (as an FPN's lateral convolutions): with a ReLU each, some initialisations
    # left most channels dead and the head barely learnt (seed 0: loss 11.4 against 4.4 after 3 epochs).
    a = keras.layers.Conv2D(WIDTH, 1, name="p8")(f8)
    b = keras.layers.Conv2D(WIDTH, 1, name="p16")(f16)
    b = keras.layers.UpSampling2D(2, interpolation="bilinear", name="up")(b)
    x = keras.layers.Add(name="fuse")([a, b])
    x = keras.layers.SpatialDropout2D(dropout, name="drop")(x)
    x = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu", name="c2")(x)
    # A prior of 0.1 per cell keeps the first steps' focal loss from drowning in background.
    heat = keras.layers.Conv2D(1, 1, bias_initializer=keras.initializers.Constant(-2.19), name="heat")(x)
    reg = keras.layers.Conv2D(4, 1, name="box")(x)
    return keras.Model([f8, f16], keras.layers.Concatenate(name="out")([heat, reg]), name="head")


def build_detector(backbone, head):
    """The shipped model: raw RGB → grid, one graph (backbone and head)."""
    import keras

    rgb = keras.Input((SIDE, SIDE, 3), name="rgb")
    f8, f16 = backbone(rgb)
    return keras.Model(rgb, head([f8, f16]), name="facehead")


def decode(out: np.ndarray, scale: float, photo_w: int, photo_h: int, threshold: float,
           offset: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """One image's GRID×GRID×OUTPUTS → (N×4 boxes in photo pixels, N scores), local heat maxima
    at or above `threshold` (overlapping ones are for the detector to merge)."""
    heat = 1.0 / (1.0 + np.exp(-out[..., 0].astype(np.float32)))
    peaks = (heat >= cv2.dilate(heat, np.ones((3, 3), np.float32))) & (heat >= threshold)
    ys, xs = np.nonzero(peaks)
    if not len(ys):
        return np.zeros((0, 4)), np.zeros(0)
    cell = out[ys, xs].astype(np.float64)
    w, h = np.exp(np.clip(cell[:, 1], -4, 5)) * STRIDE, np.exp(np.clip(cell[:, 2], -4, 5)) * STRIDE
    cx, cy = (xs + cell[:, 3]) * STRIDE - offset[0], (ys + cell[:, 4]) * STRIDE - offset[1]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) / scale
    boxes = np.clip(boxes, 0, [photo_w, photo_h, photo_w, photo_h])
    return boxes, heat[ys, xs].astype(np.float64)
