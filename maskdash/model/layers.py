"""Layers of the project's own inside its models (registered, so that Keras' safe mode loads them).

`ContrastStretch` is the preprocessing of a model that should not care how much light a webcam
got: each face's own brightness and contrast are taken out before the base sees it (its mean to
the middle, `spread` standard deviations to the ends of MobileNetV2's −1…1), where the plain
`Rescaling` of the other models passes a dark, flat face on as dark and flat."""

from __future__ import annotations

from maskdash import settings

settings.quiet_tensorflow()

import keras  # noqa: E402
from keras import ops  # noqa: E402


@keras.saving.register_keras_serializable(package="maskdash")
class ContrastStretch(keras.layers.Layer):
    """Raw RGB (0…255) → −1…1 per image: (x − mean) / (spread × std), clipped. Colour ratios are
    kept (one mean and one std over all three channels); `floor` (in 0…255 units) keeps a flat
    image from having its noise blown up without bound."""

    def __init__(self, spread: float = 2.33, floor: float = 4.0, **kwargs):
        super().__init__(**kwargs)
        self.spread, self.floor = float(spread), float(floor)

    def call(self, x):
        x = ops.cast(x, "float32")
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(x - mean), axis=(1, 2, 3), keepdims=True))
        return ops.clip((x - mean) / (self.spread * ops.maximum(std, self.floor)), -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "spread": self.spread, "floor": self.floor}
