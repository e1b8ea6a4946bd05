"""Running a trained mask classifier fast and safely from many threads.

`MaskClassifier.predict(faces)` takes N×224×224×3 uint8 RGB faces and returns p(with_mask) for each.
A `.tflite` file runs on the TFLite interpreter (XNNPACK), a `.keras` file through a compiled
`tf.function`; both are warmed up at load so the first real frame is not slow."""

from __future__ import annotations

import os
import threading
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from maskdash import settings  # noqa: E402
from maskdash.imaging import INPUT_SIZE  # noqa: E402


def _interpreter(content: bytes, threads: int):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # ai-edge-litert is TFLite's successor; tf.lite still works in TF 2.21
            from ai_edge_litert.interpreter import Interpreter  # type: ignore
        except ImportError:
            from tensorflow.lite.python.interpreter import Interpreter
        return Interpreter(model_content=content, num_threads=threads)


class TFLiteRunner:
    """A TFLite model as a batch function. One interpreter per batch size, so a frame with
    three faces does not reallocate tensors every time; all calls serialised by a lock
    (interpreters are not thread-safe)."""

    def __init__(self, content: bytes, batch: int = 32, threads: int | None = None):
        self._content = content
        self._batch = batch
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._interpreters: dict[int, object] = {}
        self._lock = threading.Lock()

    def _get(self, n: int):
        it = self._interpreters.get(n)
        if it is None:
            it = _interpreter(self._content, self._threads)
            inp = it.get_input_details()[0]
            it.resize_tensor_input(inp["index"], [n, *inp["shape"][1:]])
            it.allocate_tensors()
            self._interpreters[n] = it
        return it

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outs = []
        with self._lock:
            for start in range(0, len(x), self._batch):
                chunk = np.ascontiguousarray(x[start : start + self._batch], dtype=np.float32)
                it = self._get(len(chunk))
                it.set_tensor(it.get_input_details()[0]["index"], chunk)
                it.invoke()
                outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


class MaskClassifier:
    def __init__(self, fn, path: Path, kind: str):
        self._fn = fn
        self.path = path
        self.kind = kind
        self.input_size = INPUT_SIZE

    @classmethod
    def load(cls, path: str | Path | None = None, warm_up: bool = True,
             threads: int | None = None) -> "MaskClassifier":
        """Load `.tflite` or `.keras`; default: the shipped model (TFLite if committed).
        `threads`: TFLite interpreter threads (default up to 4; the live pipeline uses 1)."""
        if path is None:
            tfl = settings.shipped_model_dir() / "model.tflite"
            path = tfl if tfl.is_file() else settings.shipped_model_path()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        if path.suffix == ".tflite":
            runner = TFLiteRunner(path.read_bytes(), threads=threads)
            clf = cls(runner, path, "tflite")
        else:
            import tensorflow as tf

            from maskdash.model import load_model

            model = load_model(path)
            fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
            clf = cls(lambda x: np.asarray(fn(tf.convert_to_tensor(x, tf.float32))), path, "keras")
            clf.keras_model = model
        if warm_up:
            clf.predict(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.uint8))
        return clf

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """N×224×224×3 uint8 RGB → p(with_mask), shape (N,)."""
        if len(faces) == 0:
            return np.zeros((0,), np.float32)
        if faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"faces must be N×{INPUT_SIZE}×{INPUT_SIZE}×3, got {faces.shape}")
        probs = self._fn(faces.astype(np.float32))
        return np.asarray(probs)[:, 0].astype(np.float32)

    def predict_batched(self, faces: np.ndarray, batch: int = 64, progress: bool = False) -> np.ndarray:
        from tqdm import tqdm

        out = [
            self.predict(faces[i : i + batch])
            for i in tqdm(range(0, len(faces), batch), disable=not progress, desc="classifying")
        ]
        return np.concatenate(out) if out else np.zeros((0,), np.float32)
