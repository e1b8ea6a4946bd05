"""The angles study: each face's yaw from BlazeFace's six landmarks (`analysis.yaw`), on Face Mask
12K Test crops and on real dev-scene faces; accuracy and mean p(with_mask) per yaw bin. The Test
faces' rows come from the shared landmark pass (`base.angles_on_test`, via `Context`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from maskdash import settings
from maskdash.analysis import examples as ex
from maskdash.analysis.sources import DEV_MIN_HEIGHT, progress_bar, sample_dev_faces
from maskdash.analysis.studies.base import Context, StudyResult, _fm12k_image, _yaw_row, group_table, records, study
from maskdash.analysis.yaw import YAW_BINS, YAW_METHOD, yaw_bin
from maskdash.labels import labels_for


def angles_on_dev(picked, scenes_dir: Path, classifier, detector, progress: bool) -> tuple[pd.DataFrame, list]:
    """Yaw from the detector around each ground-truth box; p_mask from the pipeline's crop.
    → (rows, per row (image relative to the data folder, box, landmarks in the crop or None))."""
    from maskdash.analysis.landmarks import detect_around_box, to_crop_pixels
    from maskdash.imaging import ImageError, crop_face, load_rgb
    from maskdash.labels import CROP_MARGIN

    rows, crops, where = [], [], []
    cache: dict[Path, np.ndarray | None] = {}
    for scene, k, b in progress_bar(picked, progress, "landmarks (dev scenes)"):
        if scene.image_path not in cache:
            cache.clear()  # faces are sorted by scene: keep one decoded photo at a time
            try:
                cache[scene.image_path] = load_rgb(scene.image_path)
            except ImageError:
                cache[scene.image_path] = None
        rgb = cache[scene.image_path]
        if rgb is None:
            continue
        box = (b.x1, b.y1, b.x2, b.y2)
        det = detect_around_box(detector, rgb, box)
        crops.append(crop_face(rgb, box, CROP_MARGIN))
        lm = None if det is None else to_crop_pixels(det.landmarks, box, rgb.shape[1], rgb.shape[0])
        image = f"{settings.dev_scenes_dir().name}/{scene.image_path.relative_to(scenes_dir).as_posix()}"
        where.append((image, box, lm))
        rows.append({"source": "dev_scenes", "path": scene.image_path.name, "face": k, "truth": b.label,
                     "height": int(round(b.height)), **_yaw_row(det)})
    arr = np.stack(crops) if crops else np.zeros((0, 224, 224, 3), np.uint8)
    p = classifier.predict_batched(arr) if len(arr) else np.zeros((0,), np.float32)
    df = pd.DataFrame(rows)
    if len(df):
        df["p_mask"] = p.astype(float)
    return df, where


def yaw_tables(faces: pd.DataFrame) -> pd.DataFrame:
    det = faces[faces["detected"]].copy()
    if not len(det):
        return pd.DataFrame(columns=["source", "yaw_bin", "truth", "n", "accuracy", "called_with_mask", "mean_p_mask"])
    det["yaw_bin"] = pd.Categorical([yaw_bin(y) for y in det["yaw"]], categories=list(YAW_BINS), ordered=True)
    det = det.sort_values(["source", "yaw_bin", "truth"])
    per_class = group_table(det, ["source", "yaw_bin", "truth"])
    overall = group_table(det.assign(truth_all="all"), ["source", "yaw_bin"]).assign(truth="all")
    both = pd.concat([overall[per_class.columns], per_class], ignore_index=True)
    both["yaw_bin"] = both["yaw_bin"].astype(str)
    return both


@study("angles", "Angled faces", files=("angles_faces.csv", "angles_bins.csv"))
def angles(ctx: Context) -> StudyResult:
    test_df, landmarks = ctx.test_landmarks
    parts, dev_where = [test_df], []
    dev_info: dict = {"available": ctx.scenes_dir is not None}
    if ctx.scenes_dir is not None:
        picked, pool = sample_dev_faces(ctx.scenes_dir, ctx.limit, ctx.seed)
        dev_df, dev_where = angles_on_dev(picked, ctx.scenes_dir, ctx.classifier, ctx.detector, ctx.progress)
        parts.append(dev_df)
        dev_info.update({"faces": len(dev_df), "pool": pool, "min_height": DEV_MIN_HEIGHT,
                         "note": f"holdout-fold faces at least {DEV_MIN_HEIGHT} px tall, {ctx.limit} drawn with "
                                 f"seed {ctx.seed}; yaw from the detector run around each ground-truth box, "
                                 "p_mask from the pipeline's crop of that box"})
    faces_df = pd.concat(parts, ignore_index=True)
    faces_df["label"] = labels_for(faces_df["p_mask"], ctx.threshold)
    bins = yaw_tables(faces_df)
    block: dict = {"detector": ctx.detector_name, "method": YAW_METHOD, "dev_scenes": dev_info, "sources": {}}
    for source, g in faces_df.groupby("source"):
        block["sources"][source] = {
            "faces": int(len(g)),
            "detected": float(g["detected"].mean()),
            "detected_by_truth": {t: float(x["detected"].mean()) for t, x in g.groupby("truth")},
            "median_abs_yaw_by_truth": {t: (float(x["yaw"].abs().median()) if x["detected"].any() else None)
                                        for t, x in g.groupby("truth")},
            "bins": records(bins[bins["source"] == source].drop(columns="source")),
        }
    shown = []  # the most turned faces of each source, with their predictions
    for source, g in faces_df[faces_df["detected"]].groupby("source"):
        top = g.reindex(g["yaw"].abs().sort_values(ascending=False).index).head(ex.N_TURNED_EXAMPLES)
        for ix, r in top.iterrows():
            if source == "test":
                image, box, lm = _fm12k_image(r["path"]), None, landmarks[ctx.faces.paths.index(r["path"])]
            else:
                image, box, lm = dev_where[ix - len(test_df)]
            shown.append(ex.record("angles", source, r["path"], r["face"], r["truth"], r["p_mask"],
                                   f"yaw {r['yaw']:+.0f}°", image, box, lm))
    return StudyResult({"angles_faces.csv": faces_df, "angles_bins.csv": bins}, block, shown)
