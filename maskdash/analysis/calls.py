"""What a model called each face, for studies that must read a binary model (with_mask,
without_mask) and a three-class one (… and mask_incorrect) alike, and the real faces those
studies add: the extra faces' holdout fold and the dev scenes' holdout faces of one class.

A binary model has no mask_incorrect output: its share "called mask_incorrect" is None (it cannot
say it), never 0 %."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from maskdash import settings
from maskdash.labels import INCORRECT, INCORRECT_INDEX, MASK_INDEX, WITH_MASK, WITHOUT_MASK, labels_for

SHARE_COLUMNS = ["n", "called_with_mask", "called_without_mask", "called_incorrect", "mean_p_mask"]


def probabilities(classifier, faces: np.ndarray, batch: int = 64) -> np.ndarray:
    """N×units probabilities, `batch` faces at a time. A classifier with only `predict_batched`
    (p(with_mask)) reads as a binary one."""
    faces = np.asarray(faces)
    if not hasattr(classifier, "probabilities"):
        p = np.asarray(classifier.predict_batched(faces), np.float32) if len(faces) else np.zeros((0,), np.float32)
        return np.stack([p, 1 - p], axis=1)
    units = int(getattr(classifier, "units", 2))
    parts = [classifier.probabilities(faces[i:i + batch]) for i in range(0, len(faces), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, units), np.float32)


def verdicts(probs: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    """p_mask, p_incorrect (NaN for a binary model) and the label of each row of probabilities,
    by the one rule (labels.label_for)."""
    probs = np.asarray(probs, np.float32).reshape(len(probs), -1)
    p_mask = probs[:, MASK_INDEX].astype(float)
    three = probs.shape[1] > INCORRECT_INDEX
    p_inc = probs[:, INCORRECT_INDEX].astype(float) if three else np.full(len(probs), np.nan)
    label = labels_for(p_mask, threshold, p_inc if three else None)
    return pd.DataFrame({"p_mask": p_mask, "p_incorrect": p_inc, "label": label})


def classify(classifier, faces: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    return verdicts(probabilities(classifier, faces), threshold)


def shares(df: pd.DataFrame, by: list[str], three_class: bool) -> pd.DataFrame:
    """Per group: n, the share called with_mask, without_mask and mask_incorrect (None for a
    binary model) and the mean p(with_mask). `df` needs columns label and p_mask."""
    rows = []
    for key, g in df.groupby(by, sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        lab = g["label"].to_numpy()
        rows.append({**dict(zip(by, key)), "n": int(len(g)),
                     "called_with_mask": float((lab == WITH_MASK).mean()),
                     "called_without_mask": float((lab == WITHOUT_MASK).mean()),
                     "called_incorrect": float((lab == INCORRECT).mean()) if three_class else None,
                     "mean_p_mask": float(g["p_mask"].mean())})
    return pd.DataFrame(rows, columns=[*by, *SHARE_COLUMNS])


def is_three_class(classifier) -> bool:
    return int(getattr(classifier, "units", 2)) > INCORRECT_INDEX


# ---------------------------------------------------------------- the real faces


def extra_faces_dir(fm_dir: Path | None = None) -> Path | None:
    """The extra faces (a folder with index.csv): beside Face Mask 12K, else in the data folder."""
    for root in ([Path(fm_dir).parent] if fm_dir else []) + [settings.data_dir()]:
        if (root / "extra-faces" / "index.csv").is_file():
            return root / "extra-faces"
    return None


def extra_image(face, root: Path) -> str:
    """An extra face's file relative to the data folder (what examples.csv records)."""
    return f"{root.name}/{Path(face.path).relative_to(root).as_posix()}"


def holdout_extra_faces(root: Path | None, keep=lambda f: True):
    """The holdout fold's extra faces that `keep` accepts → (faces, N×224×224×3 inputs); files
    that cannot be read are left out."""
    from maskdash.data.datasets import list_extra_faces
    from maskdash.imaging import ImageError, load_rgb, to_input

    if root is None:
        return [], np.zeros((0, 224, 224, 3), np.uint8)
    faces, inputs = [], []
    for f in list_extra_faces(root, ("holdout",)):
        if not keep(f):
            continue
        try:
            inputs.append(to_input(load_rgb(f.path)))
        except ImageError:
            continue
        faces.append(f)
    return faces, (np.stack(inputs) if inputs else np.zeros((0, 224, 224, 3), np.uint8))


def holdout_scene_faces(scenes_dir: Path | None, label: str):
    """The dev scenes' holdout-fold faces annotated `label`, cut as the pipeline cuts them →
    ([(image relative to the data folder, face index, box, height)], N×224×224×3 inputs)."""
    from maskdash.data.datasets import list_scenes, scene_fold
    from maskdash.imaging import ImageError, crop_face, load_rgb
    from maskdash.labels import CROP_MARGIN

    where, crops = [], []
    if scenes_dir is None:
        return where, np.zeros((0, 224, 224, 3), np.uint8)
    scenes, _ = list_scenes(scenes_dir)
    for sc in scenes:
        if scene_fold(sc.image_path) != "holdout" or not any(b.label == label for b in sc.boxes):
            continue
        try:
            rgb = load_rgb(sc.image_path)
        except ImageError:
            continue
        image = f"{Path(scenes_dir).name}/{sc.image_path.relative_to(scenes_dir).as_posix()}"
        for k, b in enumerate(sc.boxes):
            if b.label == label:
                box = (b.x1, b.y1, b.x2, b.y2)
                crops.append(crop_face(rgb, box, CROP_MARGIN))
                where.append((image, k, box, float(b.height)))
    return where, (np.stack(crops) if crops else np.zeros((0, 224, 224, 3), np.uint8))
