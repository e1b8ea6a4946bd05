"""The gallery of mistakes: which faces of a predictions CSV the model got wrong at a threshold,
how sure it was, and what they have in common (tags). Both dashboard galleries (Evaluation and
Failure analysis) are built from `mistakes`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maskdash.labels import CLASSES, INCORRECT, WITH_MASK, labels_for

CONFIDENCE = ("confidence: the probability of the class the model called — p(with_mask) for a "
              "with_mask call, 1 − p(with_mask) for a without_mask call")
TAGS = {
    "confident": "confidently wrong (p(with_mask) below 0.1 or above 0.9)",
    "low-res": "small face (file narrower than 64 px, or a scene face under 32 px tall)",
    "turned": "turned head (|yaw| ≥ 30° in the angle study)",
    "duplicate": "has an exact or near duplicate in another split (data audit)",
    "incorrect-mask": "mask worn below the nose (dev scenes' mask_weared_incorrect)",
}


def mistakes(
    preds: pd.DataFrame,
    set_name: str,
    threshold: float = 0.5,
    duplicates: pd.DataFrame | None = None,
    yaw: pd.DataFrame | None = None,
    include_correct: bool = False,
) -> pd.DataFrame:
    """The faces of a predictions CSV the model got wrong at `threshold`, most confident first,
    with `label` (the call), `confidence` (see CONFIDENCE), `error` and `tags` (see TAGS,
    comma-joined). A face wearing its mask below the nose is a mistake when called with_mask.
    `duplicates` (the audit's duplicates.csv) and `yaw` (the angle study's angles_faces.csv)
    add the duplicate and turned tags."""
    d = preds.copy()
    p = pd.to_numeric(d["p_mask"], errors="coerce")
    d = d[p.notna()].copy()
    p = p[p.notna()].astype(float)
    d["p_mask"] = p
    d["label"] = labels_for(p, threshold)
    truth = d["truth"].astype(str)
    wrong = ((truth.isin(CLASSES)) & (truth != d["label"])) | ((truth == INCORRECT) & (d["label"] == WITH_MASK))
    d["error"] = np.where(~wrong, "correct",
                          np.where(d["label"] == WITH_MASK, "called with_mask", "called without_mask"))
    d["confidence"] = np.where(d["label"] == WITH_MASK, p, 1 - p)
    is_scene = set_name.startswith("dev_scenes")
    dup_paths: set[str] = set()
    if duplicates is not None and len(duplicates) and {"group", "path", "split"} <= set(duplicates.columns):
        cross = duplicates.groupby("group")["split"].transform("nunique") > 1
        dup_paths = set(duplicates.loc[cross, "path"].astype(str))
    turned: set[tuple[str, int]] = set()
    if yaw is not None and len(yaw) and {"path", "yaw", "source"} <= set(yaw.columns):
        src = "dev_scenes" if is_scene else "test"
        t = yaw[(yaw["source"] == src) & (yaw["yaw"].abs() >= 30)]
        turned = {(str(a), int(b)) for a, b in zip(t["path"], t.get("face", pd.Series(0, index=t.index)))}
    tags = []
    for _, r in d.iterrows():
        t = []
        if r["p_mask"] < 0.1 or r["p_mask"] > 0.9:
            t.append("confident")
        size = r.get("height") if is_scene else r.get("width")
        if size is not None and size == size and float(size) < (32 if is_scene else 64):
            t.append("low-res")
        if (str(r["path"]), int(r.get("face", 0) or 0)) in turned:
            t.append("turned")
        if str(r["path"]) in dup_paths:
            t.append("duplicate")
        if r["truth"] == INCORRECT:
            t.append("incorrect-mask")
        tags.append(", ".join(t))
    d["tags"] = tags
    if not include_correct:
        d = d[d["error"] != "correct"]
    return d.sort_values("confidence", ascending=False).reset_index(drop=True)


def gallery_face(row: pd.Series | dict, set_name: str) -> np.ndarray:
    """The classifier's 224 input for one predictions row, read from the data folder: the file
    itself (Face Mask 12K) or the pipeline's crop of the box (dev scenes). Raises ImageError."""
    from maskdash.evaluation import shipped
    from maskdash.imaging import crop_face, load_rgb, to_input
    from maskdash.labels import CROP_MARGIN

    rgb = load_rgb(shipped.image_path(str(row["path"]), set_name))
    if set_name.startswith("dev_scenes"):
        return crop_face(rgb, (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"])), CROP_MARGIN)
    return to_input(rgb)
