"""The model's own preprocessing: `rescale` (as MobileNetV2 learnt) or `stretch` (each face's own
brightness and contrast taken out, so that a dim webcam's face reaches the base as a lit one would).
A stretched model saves, loads in safe mode, exports to TFLite and trains like any other."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maskdash.imaging import load_rgb, to_input
from maskdash.model.runtime import from_keras_model, load_classifier, load_keras
from maskdash.train.config import TrainArgs, resolve
from maskdash.train.loop import train


@pytest.fixture(scope="module")
def face(fm12k) -> np.ndarray:
    from maskdash.data import datasets

    sample = datasets.list_split(fm12k, "Validation")[0]
    return to_input(load_rgb(sample.path))


def test_stretch_takes_out_brightness_and_contrast(face):
    from maskdash.model.layers import ContrastStretch

    layer = ContrastStretch()
    lit = np.asarray(layer(face[None].astype(np.float32)))
    dim = np.asarray(layer((face[None].astype(np.float32) * 0.25 + 6)))  # a quarter of the light, a raised black
    assert lit.min() >= -1 and lit.max() <= 1
    assert np.abs(lit - dim).max() < 1e-3
    rescaled = face[None].astype(np.float32) / 127.5 - 1
    assert np.abs(lit - rescaled).mean() > 0.05  # it is not the plain rescale
    # a flat grey image stays flat instead of having nothing blown up to full contrast
    flat = np.asarray(layer(np.full((1, 224, 224, 3), 80, np.float32) + np.random.default_rng(0).normal(0, 1, (1, 224, 224, 3))))
    assert flat.std() < 0.15  # without the floor: 1 / 2.33 = 0.43, the noise at full contrast


def test_a_stretched_model_saves_loads_safely_and_exports(tmp_path, shipped_model, face):
    from maskdash.model.layers import ContrastStretch
    from maskdash.model.network import preprocess_kind, set_preprocess

    model = load_keras(shipped_model.with_suffix(".keras"))
    assert preprocess_kind(model) == "rescale"
    stretched = set_preprocess(model, "stretch")
    assert preprocess_kind(stretched) == "stretch" and set_preprocess(stretched, "stretch") is stretched
    # the base and head are the loaded model's own (weights shared, not copied)
    assert stretched.get_layer("probs") is model.get_layer("probs")
    path = tmp_path / "stretched.keras"
    stretched.save(path)
    again = load_keras(path)
    assert isinstance(again.get_layer("preprocess"), ContrastStretch)
    x = np.stack([face, (face * 0.3).astype(np.uint8)])
    want = stretched.predict(x.astype(np.float32), verbose=0)
    assert np.abs(again.predict(x.astype(np.float32), verbose=0) - want).max() < 1e-5
    fast = load_classifier(path)  # the app's path: converted to TFLite
    assert np.abs(fast.probabilities(x) - want).max() < 2e-3
    assert np.abs(from_keras_model(again).probabilities(x) - want).max() < 2e-3


def test_preprocess_arguments():
    assert resolve(TrainArgs(data="d", out="o")).preprocess == "rescale"
    assert resolve(TrainArgs(data="d", out="o", init="m.keras")).preprocess is None  # the loaded model's own
    with pytest.raises(ValueError, match="seed"):
        resolve(TrainArgs(data="d", out="o", recipe="seed", preprocess="stretch"))
    with pytest.raises(ValueError, match="unknown preprocessing"):
        resolve(TrainArgs(data="d", out="o", preprocess="sharpen"))


def test_training_puts_the_stretch_in_front_of_an_init_model(tmp_path, fm12k, shipped_model):
    from maskdash.model.network import preprocess_kind

    run = tmp_path / "stretch"
    best = train(TrainArgs(data=str(fm12k), recipe="robust", out=str(run), init=str(shipped_model.with_suffix(".keras")),
                           classes=3, preprocess="stretch", limit=3, views=1, epochs=1, batch_size=8))
    assert json.loads((run / "args.json").read_text())["preprocess"] == "stretch"
    assert preprocess_kind(load_keras(best)) == "stretch"
    # the model card says so: the shipped model's reports with this run's arguments
    import shutil

    from maskdash.evaluation.report import write_model_card

    card_dir = tmp_path / "card"
    card_dir.mkdir()
    shutil.copy(shipped_model.parent / "metrics.json", card_dir / "metrics.json")
    shutil.copy(run / "args.json", card_dir / "args.json")
    text = write_model_card(card_dir).read_text()
    assert "ContrastStretch" in text and "`preprocess`: stretch" in text
    shipped_card = (shipped_model.parent / "MODEL_CARD.md").read_text()
    assert "ContrastStretch" not in shipped_card.split("## Training data")[0]  # the shipped model rescales
