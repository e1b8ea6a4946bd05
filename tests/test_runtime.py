"""The one model runtime: every model file opens through `load_classifier`, and every bad model file
gives one clear error naming the file and what is wrong with it (crafted here, in tmp_path)."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

from maskdash import settings
from maskdash.model.runtime import ModelFileError, load_classifier

SHIPPED_TFLITE = settings.shipped_model_dir() / "model.tflite"


def test_default_is_the_shipped_model_and_honours_the_setting(monkeypatch, shipped_classifier):
    assert shipped_classifier.path == SHIPPED_TFLITE
    assert "litert" in shipped_classifier.kind  # inference on LiteRT, not the deprecated tf.lite
    monkeypatch.setenv("MASKDASH_MODEL", "/nowhere/else.tflite")
    assert str(settings.model_path()) == "/nowhere/else.tflite"
    with pytest.raises(FileNotFoundError, match="else.tflite"):
        load_classifier()


def test_probabilities_are_a_softmax(shipped_classifier):
    faces = np.random.default_rng(0).integers(0, 255, (3, 224, 224, 3), dtype=np.uint8)
    probs = shipped_classifier.probabilities(faces)
    assert probs.shape == (3, shipped_classifier.units) and shipped_classifier.units == 3  # three classes
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert np.allclose(shipped_classifier.predict(faces), probs[:, 0])


def _bad_files(tmp_path):
    good = SHIPPED_TFLITE.read_bytes()
    flipped = bytearray(good)
    flipped[4:8] = b"XXXX"  # the flatbuffer identifier
    zip_no_config = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(zip_no_config, "w") as z:
        z.writestr("metadata.json", "{}")
    files = {
        "empty.tflite": b"",
        "truncated.tflite": good[: len(good) // 3],
        "flipped.tflite": bytes(flipped),
        "text.tflite": b"hello, I am not a model\n" * 10,
        "notzip.keras": b"PK but not really a zip" * 20,
        "pickle.h5": pickle.dumps({"weights": [1, 2, 3]}),
        "model.onnx": b"\x08\x07",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / n for n in files] + [zip_no_config]


def test_every_bad_model_file_is_one_clear_error(tmp_path):
    for path in _bad_files(tmp_path):
        with pytest.raises(ModelFileError) as info:
            load_classifier(path)
        message = str(info.value)
        assert path.name in message, message
        assert "\n" not in message and "Traceback" not in message
        assert len(message) < 400


def test_keras_config_naming_a_non_layer_function_is_refused(tmp_path, shipped_classifier):
    """A .keras whose config names an arbitrary function must not load (safe mode) and must say so."""
    import json

    path = tmp_path / "evil.keras"
    config = {"module": "os", "class_name": "system", "config": {"command": "touch pwned"}, "registered_name": "system"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    with pytest.raises(ModelFileError, match="evil.keras"):
        load_classifier(path)
    assert not (tmp_path / "pwned").exists()


def test_wrong_input_or_output_shape_is_refused(tmp_path):
    import keras

    from maskdash.model.runtime import to_tflite

    small_in = keras.Sequential([keras.Input((96, 96, 3)), keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(2, activation="softmax")])
    one_out = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(1, activation="sigmoid")])
    for name, model, words in (("small.keras", small_in, "input"), ("one.keras", one_out, "output")):
        model.save(tmp_path / name)
        with pytest.raises(ModelFileError, match=words) as info:
            load_classifier(tmp_path / name)
        assert name in str(info.value)
    (tmp_path / "one.tflite").write_bytes(to_tflite(one_out, "none"))
    with pytest.raises(ModelFileError, match="output"):
        load_classifier(tmp_path / "one.tflite")


def test_cli_names_the_bad_model_file(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x00" * 100)
    img = tmp_path / "face.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 150, 120)).save(img)
    out = subprocess.run([sys.executable, "-m", "maskdash", "predict", str(img), "--crops", "--csv",
                          str(tmp_path / "o.csv"), "--model", str(bad)],
                         cwd=settings.PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "broken.tflite" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_shipped_files_match_their_checksums_and_a_changed_one_warns(tmp_path, monkeypatch):
    from maskdash.model import runtime

    assert runtime.integrity_warning(SHIPPED_TFLITE) is None
    fake_models = tmp_path / "models"
    (fake_models / "robust").mkdir(parents=True)
    copy = fake_models / "robust" / "model.tflite"
    data = bytearray(SHIPPED_TFLITE.read_bytes())
    data[-100] ^= 0xFF  # one weight byte flipped: still a valid flatbuffer
    copy.write_bytes(bytes(data))
    (fake_models / "SHA256SUMS").write_text((settings.MODELS_DIR / "SHA256SUMS").read_text())
    monkeypatch.setattr(settings, "MODELS_DIR", fake_models)
    with pytest.warns(UserWarning, match="differs from the shipped model"):
        clf = load_classifier(copy)
    assert "differs" in clf.warning


def test_runtime_bench_measures_both_backends():
    from maskdash.model.speed import format_runtime, runtime_latency

    doc = runtime_latency(single=6, batch=4, batches=3, rounds=3)
    assert set(doc["backends"]) == {"litert", "tf.lite"}
    for r in doc["backends"].values():
        assert r["single_ms_p50"] > 0 and r["batch_faces_per_s"] > 0
    assert "litert" in format_runtime(doc)


def test_batches_of_any_size_give_each_face_its_own_answer_and_memory_stays_bounded(shipped_classifier):
    """Batches are padded to 1, 2, 4, … 16 faces: outputs equal one-face calls, and only those sizes
    keep an interpreter (one per size seen used to pile up ~7 MB a face for the server's life)."""
    faces = np.random.default_rng(1).integers(0, 255, (37, 224, 224, 3), dtype=np.uint8)
    one_by_one = np.concatenate([shipped_classifier.predict(faces[i:i + 1]) for i in range(len(faces))])
    for n in (3, 12, 19, 37):
        assert np.allclose(shipped_classifier.predict(faces[:n]), one_by_one[:n], atol=1e-5), n
    runner = shipped_classifier._fn
    assert set(runner._interpreters) <= {1, 2, 4, 8, 16}
