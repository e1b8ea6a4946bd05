"""What a failure-analysis run works on: the model (a recipe, a folder or a file), the data
folders, and the faces drawn from them with a fixed seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.labels import CLASSES

DEV_MIN_HEIGHT = 24  # px: below this BlazeFace rarely finds a face and landmarks are guesswork
ENGINES = {"tflite": "litert", "keras": "keras"}  # analyze's --engine → the runtime's engine


@dataclass(frozen=True)
class ModelRef:
    name: str  # the results folder name: the recipe, or the model's folder name
    path: Path  # .keras or .tflite
    folder: Path  # where its predictions_*.csv would be


def resolve_model(recipe_or_model: str | Path) -> ModelRef:
    """"robust" / "seed" → models/<recipe>/model.keras (or .tflite); a folder → its model.keras
    (or model.tflite, best.keras); a file → itself."""
    from maskdash.evaluation import shipped

    text = str(recipe_or_model)
    p = Path(text).expanduser()
    if not p.exists() and "/" not in text and not p.suffix:
        p = shipped.recipe_dir(text)
        if not p.is_dir():
            raise FileNotFoundError(
                f"no model for recipe {text!r}: {settings.display_path(p)} does not exist (train it, then "
                f"`python -m maskdash report --run <run folder> --out {settings.display_path(p)}`)"
            )
    if p.is_dir():
        for candidate in ("model.keras", "model.tflite", "best.keras"):
            if (p / candidate).is_file():
                return ModelRef(p.name, p / candidate, p)
        raise FileNotFoundError(f"no model.keras, model.tflite or best.keras in {p}")
    if p.is_file():
        if p.suffix not in (".keras", ".tflite"):
            raise FileNotFoundError(f"not a model file (.keras or .tflite): {p}")
        return ModelRef(p.parent.name, p, p.parent)
    raise FileNotFoundError(f"model not found: {p}")


def open_classifier(ref: ModelRef, engine: str = "tflite"):
    """The model through the one runtime. engine "tflite" runs it on LiteRT (a .keras model is
    converted to float32 once, same outputs to ~1e-6, ≈2–4× faster on CPU); "keras" runs Keras."""
    from maskdash.model.runtime import load_classifier

    if engine not in ENGINES:
        raise ValueError(f"engine must be 'tflite' or 'keras', got {engine!r}")
    return load_classifier(ref.path, engine=ENGINES[engine])


def resolve_data(data_dir: str | Path | None) -> tuple[Path, Path | None]:
    """(Face Mask 12K folder, dev-scenes folder or None) from a data root holding both, or from
    the Face Mask 12K folder itself (the scenes are then looked for beside it)."""
    root = Path(data_dir).expanduser() if data_dir else settings.data_dir()
    if (root / "facemask12k").is_dir():
        fm, scenes = root / "facemask12k", root / "face-mask-detection-dev"
    else:
        fm, scenes = root, root.parent / "face-mask-detection-dev"
    if not any((fm / s).is_dir() for s in ("Test", "test")):
        raise FileNotFoundError(
            f"no Face Mask 12K Test split in {fm}: pass --data (or set MASKDASH_DATA) to a folder "
            "holding facemask12k/ and face-mask-detection-dev/"
        )
    if not (scenes / "annotations").is_dir():
        scenes = settings.dev_scenes_dir() if (settings.dev_scenes_dir() / "annotations").is_dir() else None
    return fm, scenes


def progress_bar(it, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(it, desc=desc, disable=not enabled, unit="face", leave=False)


@dataclass
class TestFaces:
    paths: list[str]  # relative to the Face Mask 12K folder
    truth: list[str]
    native: list[np.ndarray]  # decoded files, native size
    inputs: np.ndarray  # N×224×224×3 classifier inputs


def sample_test_faces(fm_dir: Path, per_class: int, seed: int, progress: bool = False) -> TestFaces:
    """`per_class` Test faces of each class, drawn with a fixed seed (sorted for stable order)."""
    from maskdash.data.datasets import list_split
    from maskdash.imaging import ImageError, load_rgb, to_input

    split = "Test" if (fm_dir / "Test").is_dir() else "test"
    samples = list_split(fm_dir, split)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(len(CLASSES)):
        pool = [s for s in samples if s.label == label]
        k = min(per_class, len(pool))
        chosen += [pool[i] for i in sorted(rng.choice(len(pool), k, replace=False))]
    paths, truth, native, inputs = [], [], [], []
    for s in progress_bar(chosen, progress, "loading Test faces"):
        try:
            rgb = load_rgb(s.path)
        except ImageError:
            continue
        paths.append(s.path.relative_to(fm_dir).as_posix())
        truth.append(CLASSES[s.label])
        native.append(rgb)
        inputs.append(to_input(rgb))
    if not inputs:  # every study needs faces; none is a data problem, not an empty result
        raise ValueError(f"no readable Test faces in {fm_dir / split} ({len(chosen)} tried)")
    return TestFaces(paths, truth, native, np.stack(inputs))


def sample_dev_faces(scenes_dir: Path, n: int, seed: int, min_height: float = DEV_MIN_HEIGHT):
    """Up to `n` holdout-fold dev-scene faces at least `min_height` px tall → ([(scene, index,
    box)], pool size)."""
    from maskdash.data.datasets import list_scenes, scene_fold

    scenes, _ = list_scenes(scenes_dir)
    pool = [(sc, k, b) for sc in scenes if scene_fold(sc.image_path) == "holdout"
            for k, b in enumerate(sc.boxes) if b.height >= min_height]
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(len(pool), min(n, len(pool)), replace=False)) if pool else []
    return [pool[i] for i in idx], len(pool)
