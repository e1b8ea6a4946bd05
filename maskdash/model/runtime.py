"""One model runtime: any model file → the one classifier every caller uses; and the export.

`load_classifier(path)` opens a `.tflite` or `.keras` file (default: `settings.model_path()`, which
honours `MASKDASH_MODEL`) and returns a `MaskClassifier`. Inference always runs on LiteRT
(`ai-edge-litert`, the successor of `tf.lite.Interpreter`; the deprecated interpreter is used only
where LiteRT is not installed): a `.keras` file is converted once, in memory, to a float32
flatbuffer with the same outputs. So the CLI, Photos, Live, the failure studies and the reports all
run the same code. Keras stays for training, Grad-CAM and export (`to_tflite`).

Every file is checked at load: a bad file raises `ModelFileError`, whose message names the file and
says what is wrong (not a model, truncated, refused by Keras' safe mode, wrong input or output)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.imaging import INPUT_SIZE
from maskdash.labels import MASK_INDEX

MODEL_SUFFIXES = (".tflite", ".keras")
OUTPUT_UNITS = (2, 3)  # with_mask / without_mask (+ mask_incorrect in a three-class model)
ENGINES = ("litert", "keras")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot use model file {settings.display_path(path)}: {reason}")


BACKENDS = ("litert", "tf.lite")


def _interpreter_class(backend: str | None = None):
    """(Interpreter class, backend name): LiteRT when installed (or asked for), else tf.lite."""
    if backend not in (None, *BACKENDS):
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    try:
        if backend == "tf.lite":
            raise ImportError
        from ai_edge_litert.interpreter import Interpreter  # type: ignore

        return Interpreter, "litert"
    except ImportError:  # the deprecated TF interpreter still works in TF 2.21
        import warnings

        settings.quiet_tensorflow()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from tensorflow.lite.python.interpreter import Interpreter
        return Interpreter, "tf.lite"


class TFLiteRunner:
    """A flatbuffer as a batch function; calls serialised by a lock (interpreters are not
    thread-safe). Interpreters are kept for batch sizes 1, 2, 4, … up to `batch`, so a frame with
    three faces does not reallocate tensors every time, and a batch is padded up to the next kept
    size. Keeping one per size seen instead grew without bound: each MobileNetV2 interpreter holds
    ~7 MB of activations per face, and crowd photos of 12, 19, 27, 32 faces held ~650 MB between
    them, for the life of the server."""

    def __init__(self, content: bytes, batch: int = 16, threads: int | None = None, backend: str | None = None):
        self._content = content
        self._batch = batch
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._interpreters: dict[int, object] = {}
        self._lock = threading.Lock()
        self._cls, self.backend = _interpreter_class(backend)

    def _get(self, n: int):
        it = self._interpreters.get(n)
        if it is None:
            it = self._new(self._threads)
            inp = it.get_input_details()[0]
            it.resize_tensor_input(inp["index"], [n, *inp["shape"][1:]])
            it.allocate_tensors()
            self._interpreters[n] = it
        return it

    def _new(self, threads: int):
        import warnings

        with warnings.catch_warnings():  # tf.lite's deprecation notice: chosen knowingly as the fallback
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            return self._cls(model_content=self._content, num_threads=threads)

    def signature(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(input shape, output shape) of the flatbuffer as stored."""
        it = self._new(1)
        return (tuple(int(v) for v in it.get_input_details()[0]["shape"]),
                tuple(int(v) for v in it.get_output_details()[0]["shape"]))

    def _size(self, n: int) -> int:
        size = 1
        while size < n:
            size *= 2
        return min(size, self._batch)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outs = []
        with self._lock:
            for start in range(0, len(x), self._batch):
                chunk = np.ascontiguousarray(x[start : start + self._batch], dtype=np.float32)
                n, size = len(chunk), self._size(len(chunk))
                if size > n:  # zero faces as padding: each face's output depends on that face only
                    chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), np.float32)])
                it = self._get(size)
                it.set_tensor(it.get_input_details()[0]["index"], chunk)
                it.invoke()
                outs.append(it.get_tensor(it.get_output_details()[0]["index"])[:n].copy())
        return np.concatenate(outs) if outs else np.zeros((0, 2), np.float32)


class MaskClassifier:
    """N×224×224×3 uint8 RGB faces → class probabilities. Thread-safe."""

    def __init__(self, fn, path: Path, kind: str, units: int = 2, keras_model=None):
        self.warning: str | None = None  # e.g. a shipped file whose checksum does not match
        self._fn = fn
        self.path = Path(path)
        self.kind = kind  # e.g. "tflite (litert)", "keras→tflite (litert)", "keras"
        self.units = units
        self.input_size = INPUT_SIZE
        self.keras_model = keras_model  # for Grad-CAM, when loaded from a .keras file

    def probabilities(self, faces: np.ndarray) -> np.ndarray:
        """N×K softmax probabilities in `labels.CLASSES` order."""
        if len(faces) == 0:
            return np.zeros((0, self.units), np.float32)
        if faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"faces must be N×{INPUT_SIZE}×{INPUT_SIZE}×3, got {faces.shape}")
        return np.asarray(self._fn(faces.astype(np.float32)), np.float32)

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """N×224×224×3 uint8 RGB → p(with_mask), shape (N,)."""
        return self.probabilities(faces)[:, MASK_INDEX].astype(np.float32)

    def predict_batched(self, faces: np.ndarray, batch: int = 64, progress: bool = False) -> np.ndarray:
        from tqdm import tqdm

        out = [
            self.predict(faces[i : i + batch])
            for i in tqdm(range(0, len(faces), batch), disable=not progress, desc="classifying")
        ]
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def warm_up(self, batches: int = 1) -> None:
        """Run each batch size up to `batches` once (LiteRT builds one interpreter per size)."""
        for n in range(1, max(1, batches) + 1):
            self.predict(np.zeros((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8))


def _check_signature(path: Path, in_shape, out_shape) -> int:
    """The input must be N×224×224×3 and the output N×2 or N×3; returns the output units."""
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    if len(in_shape) != 4 or tuple(in_shape[1:]) != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ModelFileError(path, f"its input is {_shape(in_shape)}, this app feeds N×{INPUT_SIZE}×{INPUT_SIZE}×3 RGB faces")
    if len(out_shape) != 2 or out_shape[1] not in OUTPUT_UNITS:
        raise ModelFileError(path, f"its output is {_shape(out_shape)}, a mask classifier gives N×2 "
                                   "(or N×3) class probabilities")
    return int(out_shape[1])


def _shape(shape) -> str:
    return "×".join("N" if (v is None or v in (-1, 1) and i == 0) else str(v) for i, v in enumerate(shape))


def read_tflite(path: Path) -> bytes:
    """A .tflite file's bytes, or ModelFileError naming it when unreadable or not a flatbuffer."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(path, f"cannot read it ({exc.strerror or exc})") from None
    # A flatbuffer carries its identifier at bytes 4–8; anything else is not a TFLite model.
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ModelFileError(path, "not a TFLite flatbuffer (empty, truncated or another kind of file)")
    return content


def open_tflite(path: Path, content: bytes, threads: int | None) -> TFLiteRunner:
    runner = TFLiteRunner(content, threads=threads)
    try:
        in_shape, out_shape = runner.signature()
        _check_signature(path, in_shape, out_shape)  # a wrong shape is named as such, not as a runtime failure
        runner(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32))  # damaged tensors fail here
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - the interpreter raises many kinds; all mean "damaged"
        raise ModelFileError(path, f"the TFLite runtime cannot run it ({type(exc).__name__}: {_first_line(exc)})") from None
    return runner


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no detail"


def load_keras(path: str | Path):
    """A `.keras` file as a Keras model, in Keras' safe mode (no code from the file runs).
    Raises ModelFileError naming the file for anything that is not a usable Keras model."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(path, "not a Keras model (a .keras file is a zip archive; this one is not)")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(path, f"damaged zip archive ({exc})") from None
    if "config.json" not in names:
        raise ModelFileError(path, "not a Keras model (the archive has no config.json)")
    settings.quiet_tensorflow()
    import keras

    import maskdash.model.layers  # noqa: F401 - registers the project's own layers for safe mode

    try:
        return keras.models.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds; the reason goes to the user
        raise ModelFileError(path, f"Keras cannot load it ({type(exc).__name__}: {_first_line(exc)})") from None


def to_tflite(model, quantize: str = "float16") -> bytes:
    """Export: a Keras model → TFLite flatbuffer, 'none' (float32), 'float16' (half-size weights)
    or 'dynamic' (int8 weights)."""
    import contextlib
    import io

    settings.quiet_tensorflow()
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize != "none":
        raise ValueError(f"unknown quantization {quantize!r}")
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every tensor it saves
        return converter.convert()


def from_keras_model(model, path: str | Path = "<in memory>", threads: int | None = None,
                     engine: str = "litert") -> MaskClassifier:
    """A classifier for a Keras model already in memory (reports, training checks)."""
    path = Path(path)
    units = _check_signature(path, model.input_shape, model.output_shape)
    if engine == "keras":
        settings.quiet_tensorflow()
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return MaskClassifier(lambda x: np.asarray(fn(tf.convert_to_tensor(x, tf.float32))), path, "keras",
                              units, keras_model=model)
    runner = TFLiteRunner(to_tflite(model, "none"), threads=threads)
    return MaskClassifier(runner, path, f"keras→tflite ({runner.backend})", units, keras_model=model)


def load_classifier(path: str | Path | None = None, *, threads: int | None = None, warm_up: int = 1,
                    engine: str = "litert") -> MaskClassifier:
    """The one way to open a model file. `path` None: `settings.model_path()` (MASKDASH_MODEL, else
    the shipped model). A `.keras` file whose `.tflite` sibling exists still loads the Keras
    file: what was asked for is what runs. `threads`: interpreter threads (default up to 4; the
    live pipeline uses 1). `warm_up`: batch sizes run once before returning. `engine`: "litert"
    (always, for serving) or "keras" (runs Keras directly; no conversion, for quick checks of a
    freshly trained checkpoint)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    path = Path(path) if path is not None else settings.model_path()
    if path.is_dir():
        raise ModelFileError(path, "is a folder; give a .keras or .tflite file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {settings.display_path(path)}")
        raise ModelFileError(path, f"unknown model format {path.suffix or '(no suffix)'!r}; "
                                   "this app reads .keras and .tflite files")
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {settings.display_path(path)}")
    if path.suffix.lower() == ".tflite":
        runner = open_tflite(path, read_tflite(path), threads)
        units = _check_signature(path, *runner.signature())
        clf = MaskClassifier(runner, path, f"tflite ({runner.backend})", units)
    else:
        clf = from_keras_model(load_keras(path), path, threads=threads, engine=engine)
    clf.warning = integrity_warning(path)
    if clf.warning:
        import warnings

        warnings.warn(clf.warning, stacklevel=2)
    if warm_up:
        clf.warm_up(warm_up)
    return clf


def record_checksums(paths: list[Path]) -> None:
    """Write the sha256 of these model files (under models/) into models/SHA256SUMS: the report
    that writes a shipped model file records what it wrote."""
    import hashlib

    sums = settings.MODELS_DIR / "SHA256SUMS"
    listed = {}
    if sums.is_file():
        listed = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    changed = False
    for path in paths:
        try:
            rel = Path(path).resolve().relative_to(settings.MODELS_DIR.resolve()).as_posix()
        except ValueError:
            continue  # a model folder elsewhere is not the shipped one
        listed[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        changed = True
    if changed:
        sums.write_text("".join(f"{digest}  {rel}\n" for rel, digest in sorted(listed.items())))


def integrity_warning(path: Path) -> str | None:
    """For a shipped model file (listed in models/SHA256SUMS): a message when its bytes differ from
    what was committed — a damaged checkout or a file replaced by hand still runs, but says so."""
    import hashlib

    sums = settings.MODELS_DIR / "SHA256SUMS"
    try:
        rel = path.resolve().relative_to(settings.MODELS_DIR.resolve()).as_posix()
        listed = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    except (ValueError, OSError):
        return None
    if rel not in listed:
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != listed[rel]:
        return (f"{settings.display_path(path)} differs from the shipped model (sha256 {digest[:12]}… "
                f"instead of {listed[rel][:12]}…): results may not match the reports")
    return None
