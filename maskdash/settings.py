"""Where things live. Every path can be overridden by an environment variable so that the
project never hard-codes the read-only `../shared` folder it is developed beside."""

from __future__ import annotations

import os
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


def base_weights() -> str:
    """ImageNet MobileNetV2 weights: `MASKDASH_BASE_WEIGHTS`, else the file in shared/, else
    Keras' own download ("imagenet")."""
    explicit = _env_path("MASKDASH_BASE_WEIGHTS")
    if explicit:
        return str(explicit)
    local = shared_dir() / "weights" / BASE_WEIGHTS_NAME
    return str(local) if local.is_file() else "imagenet"


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


def require_all() -> bool:
    """CI sets MASKDASH_REQUIRE_ALL=1: optional resources must then be present."""
    return os.environ.get("MASKDASH_REQUIRE_ALL", "") not in ("", "0", "false")
