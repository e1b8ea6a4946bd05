"""Light on real faces: the lighting study's levels shown on one face, and the dev scenes' own
dim faces measured (mean luma of each face box) against the model's committed predictions.

The lighting study (analysis.studies) darkens and flattens Test crops synthetically; these
functions let the page put that sweep beside faces that really were photographed in poor light."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from maskdash.labels import CLASSES

# Rec. 601 weights: the luma a camera's Y channel would record
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
DARK_SHARE = 0.1  # "the darkest faces": the darkest tenth of the measured faces
MIN_BIN_FACES = 10  # fewer binary-truth faces than this in a luma bin: too few for a percentage
LUMA_EDGES = (0, 40, 60, 80, 100, 120, 140, 256)
BACKLIT_RATIO = 0.6  # a face darker than 60 % of its photo's mean luma: lit from behind


def luma(rgb: np.ndarray) -> float:
    """Mean luma (0–255) of an RGB image."""
    return float((np.asarray(rgb, np.float32)[..., :3] @ LUMA_WEIGHTS).mean())


def box_luma(rgb: np.ndarray, box: Sequence[float]) -> float | None:
    """Mean luma inside the face box (x1, y1, x2, y2) clipped to the image; None when empty."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 <= x1 or y2 <= y1:
        return None
    return luma(rgb[y1:y2, x1:x2])


def level_images(face: np.ndarray, kind: str, factors: Sequence[float]) -> list[np.ndarray]:
    """The same face at each factor of the lighting study: `kind` "brightness" or "contrast",
    made with the very operations the study applied."""
    from maskdash.analysis.studies import contrast
    from maskdash.data.augment import brightness

    op = {"brightness": brightness, "contrast": contrast}[kind]
    return [op(face, f) for f in factors]


def measure_faces(preds: pd.DataFrame, image_of: Callable[[str], Path]) -> pd.DataFrame:
    """`preds` (predictions_dev_scenes.csv rows: path, x1…y2, truth, p_mask) with face_luma (the
    face box) and photo_luma (the whole photo) added; each photo is read once. Rows whose photo
    cannot be read get no luma (NaN). `image_of(path)` → the photo's file."""
    from maskdash.imaging import ImageError, load_rgb

    out = preds.copy()
    face, photo = np.full(len(out), np.nan), np.full(len(out), np.nan)
    for path, rows in out.groupby("path", sort=False).indices.items():
        try:
            rgb = load_rgb(image_of(str(path)))
        except ImageError:
            continue
        whole = luma(rgb)
        for i in rows:
            r = out.iloc[i]
            v = box_luma(rgb, (r["x1"], r["y1"], r["x2"], r["y2"]))
            face[i] = np.nan if v is None else v
            photo[i] = whole
    out["face_luma"], out["photo_luma"] = face, photo
    return out


def _binary(measured: pd.DataFrame) -> pd.DataFrame:
    return measured[measured["truth"].isin(CLASSES)].dropna(subset=["face_luma", "p_mask"])


COMPARE_COLUMNS = ["faces", "n", "accuracy", "called_with_mask", "luma_from", "luma_to", "median_height"]


def _compare(d: pd.DataFrame, inside: np.ndarray, name: str, threshold: float) -> pd.DataFrame:
    """One row for the faces where `inside`, one for the rest (binary-truth faces `d`)."""
    from maskdash.analysis.studies import group_table

    rows = []
    for label, g in ((name, d[inside]), ("the rest", d[~inside])):
        if not len(g):
            continue
        t = group_table(g.assign(_all=label), ["_all"], threshold)
        r = t.iloc[0]
        rows.append({"faces": label, "n": int(r["n"]), "accuracy": r["accuracy"],
                     "called_with_mask": r["called_with_mask"],
                     "luma_from": float(g["face_luma"].min()), "luma_to": float(g["face_luma"].max()),
                     "median_height": float(g["height"].median()) if "height" in g else None})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def dark_vs_rest(measured: pd.DataFrame, threshold: float = 0.5, share: float = DARK_SHARE) -> pd.DataFrame:
    """Accuracy of the darkest `share` of the faces (by face_luma) against the rest: one row
    each with n, accuracy, the luma range and the median face height. Only faces whose truth is
    with_mask or without_mask count (accuracy is defined for them)."""
    d = _binary(measured)
    if not len(d):
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    cut = float(np.quantile(d["face_luma"], share))
    return _compare(d, (d["face_luma"] <= cut).to_numpy(), f"darkest {share:.0%}", threshold)


def backlit_vs_rest(measured: pd.DataFrame, threshold: float = 0.5, ratio: float = BACKLIT_RATIO) -> pd.DataFrame:
    """The same comparison for backlit faces: a face box darker than `ratio` × its whole
    photo's mean luma (a bright window or sky behind a face in shadow)."""
    d = _binary(measured).dropna(subset=["photo_luma"])
    if not len(d):
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    inside = (d["face_luma"] < ratio * d["photo_luma"]).to_numpy()
    return _compare(d, inside, f"backlit (face < {ratio:.0%} of its photo)", threshold)


def luma_bin(v: float) -> str:
    for lo, hi in zip(LUMA_EDGES[:-1], LUMA_EDGES[1:]):
        if v < hi:
            return f"{lo}–{hi}" if hi < 256 else f"{lo}+"
    return f"{LUMA_EDGES[-2]}+"


LUMA_BINS = tuple(luma_bin(lo) for lo in LUMA_EDGES[:-1])


def accuracy_by_luma(measured: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """n and accuracy per face-luma bin (binary truths), every bin listed in order; `enough`
    is False where n < MIN_BIN_FACES (too few faces for the percentage to mean much)."""
    from maskdash.analysis.studies import group_table

    d = _binary(measured)
    d = d.assign(luma_bin=pd.Categorical([luma_bin(v) for v in d["face_luma"]], categories=list(LUMA_BINS),
                                         ordered=True))
    t = group_table(d.sort_values("luma_bin"), ["luma_bin"], threshold)
    t["luma_bin"] = t["luma_bin"].astype(str)
    t = pd.DataFrame({"luma_bin": list(LUMA_BINS)}).merge(t, on="luma_bin", how="left")
    t["n"] = t["n"].fillna(0).astype(int)
    t["enough"] = t["n"] >= MIN_BIN_FACES
    return t


def darkest(measured: pd.DataFrame, k: int = 6, min_height: float = 0, among: set | None = None) -> pd.DataFrame:
    """The `k` darkest faces (binary truths) at least `min_height` px tall, darkest first;
    `among`: only these (path, face) keys."""
    d = _binary(measured)
    if min_height and "height" in d:
        d = d[d["height"] >= min_height]
    if among is not None:
        d = d[[(p, int(f)) in among for p, f in zip(d["path"], d["face"])]]
    return d.sort_values("face_luma").head(k)


def wrong(measured: pd.DataFrame, threshold: float = 0.5) -> set[tuple[str, int]]:
    """(path, face) of the binary-truth faces the model got wrong at `threshold`."""
    from maskdash.labels import WITH_MASK

    d = _binary(measured)
    bad = (d["p_mask"] >= threshold) != (d["truth"] == WITH_MASK)
    return {(p, int(f)) for p, f in zip(d.loc[bad, "path"], d.loc[bad, "face"])}
