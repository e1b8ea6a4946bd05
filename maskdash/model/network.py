"""The classifier network: MobileNetV2 (ImageNet) transfer learning at 224×224.

The model takes raw RGB in 0…255 (preprocessing lives inside it) and returns softmax
probabilities over `labels.CLASSES3` cut to its width (2: binary, 3: with mask_incorrect), so
index 0 is p(with_mask)."""

from __future__ import annotations

from pathlib import Path

from maskdash import settings

settings.quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from maskdash.imaging import INPUT_SIZE  # noqa: E402

BASE_NAME = "mobilenetv2_1.00_224"
RECIPES = ("seed", "robust")


PREPROCESS = ("rescale", "stretch")


def preprocess_layer(kind: str) -> keras.layers.Layer:
    """The model's first layer, named `preprocess` (split_at and explain find it by name)."""
    if kind == "rescale":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")
    if kind == "stretch":
        from maskdash.model.layers import ContrastStretch

        return ContrastStretch(name="preprocess")
    raise ValueError(f"unknown preprocessing {kind!r}; choose from {', '.join(PREPROCESS)}")


def preprocess_kind(model: keras.Model) -> str:
    from maskdash.model.layers import ContrastStretch

    return "stretch" if isinstance(model.get_layer("preprocess"), ContrastStretch) else "rescale"


def set_preprocess(model: keras.Model, kind: str) -> keras.Model:
    """`model` (its base and head, weights shared) behind `kind` preprocessing, which takes the name
    `preprocess` (split_at and explain find it by that name); itself when it has that already."""
    if preprocess_kind(model) == kind:
        return model
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name="rgb")
    x = get_base(model)(preprocess_layer(kind)(inputs), training=False)
    for layer in head_layers(model):
        x = layer(x)
    return keras.Model(inputs, x, name=model.name)


def imagenet_base(weights: str) -> keras.Model:
    """MobileNetV2 without its top, from an ImageNet .h5, "imagenet" (Keras' download), or a .keras
    model whose base holds them (the seed model: its base never trains)."""
    from_model = str(weights).endswith(".keras")
    base = keras.applications.MobileNetV2(input_shape=(INPUT_SIZE, INPUT_SIZE, 3), include_top=False,
                                          weights=None if from_model else weights)
    if from_model:  # the project's one loader: safe mode, a bad file named
        from maskdash.model.runtime import load_keras

        base.set_weights(get_base(load_keras(weights)).get_weights())
    return base


def build_model(recipe: str = "robust", base_weights: str | None = None, classes: int = 2,
                preprocess: str = "rescale") -> keras.Model:
    """One factory by name. `seed` is the original (Flatten → Dense, binary); `robust` pools and
    regularises so that its top blocks can be fine-tuned, with 2 or 3 classes."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    if classes not in (2, 3) or (recipe == "seed" and classes != 2):
        raise ValueError(f"the {recipe} recipe has {'2' if recipe == 'seed' else '2 or 3'} classes, not {classes}")
    weights = base_weights or settings.base_weights()
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="rgb")
    x = preprocess_layer(preprocess)(inputs)
    base = imagenet_base(weights)
    base.trainable = False
    x = base(x, training=False)  # BatchNorm stays in inference mode, also when fine-tuning
    if recipe == "seed":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"maskdash_{recipe}")


def widen(model: keras.Model, classes: int) -> keras.Model:
    """A binary model with a `classes`-way output layer: the two classes keep their weights, the
    new one starts from the mean of theirs with a bias that makes it rare, so the widened model
    first answers as the binary one did."""
    dense = model.get_layer("probs")
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    if kernel.shape[1] == classes:
        return model
    if kernel.shape[1] != 2 or classes != 3:
        raise ValueError(f"cannot widen a {kernel.shape[1]}-class model to {classes} classes")
    x = dense.input
    new = keras.layers.Dense(classes, activation="softmax", name="probs")
    out = new(x)
    new.set_weights([np.concatenate([kernel, kernel.mean(axis=1, keepdims=True)], axis=1),
                     np.concatenate([bias, [bias.min() - 3.0]]).astype(bias.dtype)])
    return keras.Model(model.inputs, out, name=model.name)


def get_base(model: keras.Model) -> keras.Model:
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name.startswith("mobilenetv2"):
            return layer
    raise ValueError("model has no MobileNetV2 base")


def head_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers after the base, in order."""
    layers = model.layers
    idx = layers.index(get_base(model))
    return layers[idx + 1 :]


def split_at(model: keras.Model, cut: str) -> tuple[keras.Model, keras.Model]:
    """(bottom, top): bottom maps raw RGB to the output of `cut` inside the base; top maps that
    to probabilities. Both share the model's layers, so training `top` trains the model."""
    base = get_base(model)
    pre = model.get_layer("preprocess")
    rgb = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    inner_bottom = keras.Model(base.input, base.get_layer(cut).output)
    bottom = keras.Model(rgb, inner_bottom(pre(rgb)), name="bottom")
    if cut == base.layers[-1].name:
        inner_top = None
    else:
        inner_top = keras.Model(base.get_layer(cut).output, base.output, name="base_top")
    feat = keras.Input(tuple(bottom.output.shape[1:]), name="features")
    x = feat if inner_top is None else inner_top(feat, training=False)
    for layer in head_layers(model):
        x = layer(x)
    top = keras.Model(feat, x, name="top")
    return bottom, top


def set_fine_tune(model: keras.Model, cut: str | None) -> None:
    """Freeze the base up to and including `cut`; train what follows. None freezes all."""
    base = get_base(model)
    if cut is None:
        base.trainable = False
        return
    base.trainable = True
    names = [layer.name for layer in base.layers]
    stop = names.index(cut)
    for i, layer in enumerate(base.layers):
        # BatchNorm statistics stay frozen (keras-io fine-tuning advice)
        layer.trainable = i > stop and not isinstance(layer, keras.layers.BatchNormalization)


def load_model(path: str | Path) -> keras.Model:
    """A .keras file as a Keras model (safe mode; bad files raise runtime.ModelFileError)."""
    from maskdash.model.runtime import load_keras

    return load_keras(path)
