"""The occluders study: a hand, a phone, a cup or a scarf (drawn by `analysis.occluders`) over
mouth and nose of unmasked Test faces, and the share then called "with mask"."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maskdash.analysis import examples as ex
from maskdash.analysis.sources import TestFaces, progress_bar
from maskdash.analysis.studies.base import Context, StudyResult, _fm12k_image, group_table, records, study
from maskdash.labels import WITHOUT_MASK, labels_for


def occluder_study(faces: TestFaces, landmarks: list, classifier, seed: int, progress: bool) -> pd.DataFrame:
    """Every unmasked face of the sample × every object; face i's object j is drawn with the
    seed sequence (seed, i, j)."""
    from maskdash.analysis.occluders import OCCLUDERS, FaceGeometry, occlude

    idx = [i for i, t in enumerate(faces.truth) if t == WITHOUT_MASK]
    rows, batch = [], []
    for i in progress_bar(idx, progress, "drawing occluders"):
        geo = FaceGeometry.from_landmarks(landmarks[i]) if landmarks[i] is not None else None
        for j, kind in enumerate(OCCLUDERS):
            img = occlude(faces.inputs[i], kind, geo, rng=np.random.default_rng([seed, i, j])).image
            batch.append(img)
            rows.append({"path": faces.paths[i], "object": kind,
                         "placement": "landmarks" if geo is not None else "typical", "index": i})
    p = classifier.predict_batched(np.stack(batch)) if batch else np.zeros((0,), np.float32)
    df = pd.DataFrame(rows, columns=["path", "object", "placement", "index"])
    df["truth"] = WITHOUT_MASK
    df["p_mask"] = p.astype(float)
    return df


@study("occluders", "Occluding objects", files=("occluders.csv", "occluders_summary.csv"))
def occluders(ctx: Context) -> StudyResult:
    from maskdash.analysis.occluders import OCCLUDER_TITLES, OCCLUDERS

    _, landmarks = ctx.test_landmarks
    occ = occluder_study(ctx.faces, landmarks, ctx.classifier, ctx.seed, ctx.progress)
    occ["label"] = labels_for(occ["p_mask"], ctx.threshold)
    unmasked = [i for i, t in enumerate(ctx.faces.truth) if t == WITHOUT_MASK]
    base = pd.DataFrame({"object": "none", "truth": WITHOUT_MASK, "p_mask": ctx.p_test[unmasked].astype(float)})
    table = group_table(pd.concat([base, occ[["object", "truth", "p_mask"]]], ignore_index=True), ["object"])
    block = {
        "faces": len(unmasked), "placed_from_landmarks": float((occ["placement"] == "landmarks").mean()) if len(occ) else None,
        "objects": {r["object"]: {"n": r["n"], "called_with_mask": r["called_with_mask"], "mean_p_mask": r["mean_p_mask"]}
                    for r in records(table)},
        "titles": OCCLUDER_TITLES,
        "note": "Unmasked Test faces (truth: without_mask) with a procedurally drawn object over mouth and nose; "
                "'none' is the same faces untouched. A scarf over mouth and nose is the ambiguous case: many "
                "rules accept it as a face covering.",
    }
    shown = []
    for j, kind in enumerate(OCCLUDERS):  # the face this object fooled most
        g = occ[occ["object"] == kind]
        if not len(g):
            continue
        r = g.loc[g["p_mask"].idxmax()]
        i = int(r["index"])
        shown.append(ex.record("occluders", "test", r["path"], 0, WITHOUT_MASK, r["p_mask"], kind,
                               _fm12k_image(r["path"]), None, landmarks[i], kind, (ctx.seed, i, j)))
    return StudyResult({"occluders.csv": occ.drop(columns="index"), "occluders_summary.csv": table}, block, shown)
