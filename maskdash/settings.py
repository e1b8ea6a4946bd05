"""Every MASKDASH_* setting, read in one place. Every path can be overridden by an environment
variable so that the project never hard-codes the read-only `../shared` folder it is developed
beside."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"

BASE_WEIGHTS_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def shared_dir() -> Path:
    """`MASKDASH_SHARED`, default `../shared` beside the project."""
    return _env_path("MASKDASH_SHARED") or (PROJECT_ROOT.parent / "shared")


def data_dir() -> Path:
    """`MASKDASH_DATA`, default `<shared>/data`."""
    return _env_path("MASKDASH_DATA") or (shared_dir() / "data")


def facemask12k_dir() -> Path:
    return data_dir() / "facemask12k"


def dev_scenes_dir() -> Path:
    return data_dir() / "face-mask-detection-dev"


def extra_faces_dir() -> Path:
    """Real crops for the third class, hands, dim webcams and hard negatives (index.csv)."""
    return data_dir() / "extra-faces"


def base_weights() -> str:
    """ImageNet MobileNetV2 weights: `MASKDASH_BASE_WEIGHTS`, else the file in shared/, else the
    shipped seed model (its base is the ImageNet base, frozen: the same numbers, and it travels
    with the repo to a machine that has neither shared/ nor the internet), else Keras' own
    download ("imagenet")."""
    explicit = _env_path("MASKDASH_BASE_WEIGHTS")
    if explicit:
        return str(explicit)
    local = shared_dir() / "weights" / BASE_WEIGHTS_NAME
    if local.is_file():
        return str(local)
    seed = shipped_model_path("seed")
    return str(seed) if seed.is_file() else "imagenet"


def detector_models_dir() -> Path:
    """Folder searched for detector files such as YuNet (`MASKDASH_DETECTOR_DIR`)."""
    return _env_path("MASKDASH_DETECTOR_DIR") or (shared_dir() / "models" / "face_detectors")


def cache_dir() -> Path:
    """Writable folder for downloads (`MASKDASH_CACHE`, default ~/.cache/maskdash)."""
    return _env_path("MASKDASH_CACHE") or (Path.home() / ".cache" / "maskdash")


def shipped_model_dir(recipe: str = "robust") -> Path:
    return MODELS_DIR / recipe


def shipped_model_path(recipe: str = "robust") -> Path:
    return shipped_model_dir(recipe) / "model.keras"


def model_path() -> Path:
    """The classifier every front end uses: `MASKDASH_MODEL` (a .keras or .tflite file), else the
    shipped `models/robust/model.tflite`."""
    return _env_path("MASKDASH_MODEL") or (shipped_model_dir() / "model.tflite")


def facehead_model_path() -> Path:
    """The photo pipeline's own face detector (`MASKDASH_FACEHEAD`, else the shipped
    `models/facehead/model.tflite`)."""
    return _env_path("MASKDASH_FACEHEAD") or (MODELS_DIR / "facehead" / "model.tflite")


def centerface_path() -> Path:
    """CenterFace, the photo detector's second opinion on small boxes (`MASKDASH_CENTERFACE`, else the
    shipped `models/detectors/centerface.onnx`)."""
    return _env_path("MASKDASH_CENTERFACE") or (MODELS_DIR / "detectors" / "centerface.onnx")


def reports_dir() -> Path:
    """`MASKDASH_REPORTS`: a folder laid out like `models/` for the dashboard to show."""
    return _env_path("MASKDASH_REPORTS") or MODELS_DIR


def display_path(path: str | Path) -> str:
    """A path as a user should read it: relative to the project (or to the shared folder) when
    inside it, so captions and messages never show this machine's absolute paths."""
    p = Path(path)
    try:
        resolved = p.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop, an unreadable parent
        return str(p)
    for root, prefix in ((PROJECT_ROOT, ""), (shared_dir().resolve(), "shared/")):
        if resolved.is_relative_to(root):
            return prefix + str(resolved.relative_to(root))
    return str(p)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up chatter (CUDA probing on a machine without a GPU,
    oneDNN and CPU-feature notices), which it writes to file descriptor 2 before any log setting
    applies. Called where the project starts TensorFlow (runtime, network, explain, training), and
    only there; once per process. Python errors from the import still surface."""
    global _TF_QUIET
    if _TF_QUIET:
        return
    _TF_QUIET = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if "tensorflow" in sys.modules:
        return
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:  # e.g. a JAX-only training machine
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_TF_QUIET = False


def require_all() -> bool:
    """CI sets MASKDASH_REQUIRE_ALL=1: optional resources must then be present."""
    return os.environ.get("MASKDASH_REQUIRE_ALL", "") not in ("", "0", "false")


def local_streams_allowed() -> bool:
    """MASKDASH_LOCAL_STREAMS=1: the Live page may read stream URLs on this server itself
    (loopback) and on link-local addresses (where cloud metadata services answer). Off by
    default, so a visitor cannot make the server probe its own services; LAN cameras are allowed."""
    return os.environ.get("MASKDASH_LOCAL_STREAMS", "") not in ("", "0", "false")
