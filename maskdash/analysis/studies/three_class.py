"""The studies for three classes: a mask worn below the nose (below_nose), real hands beside drawn
ones (hands), a dim webcam (dim_webcam).

These read a binary model and a three-class one alike (analysis.calls): a binary model's share
"called mask_incorrect" is None, the class it cannot name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from maskdash.analysis import examples as ex
from maskdash.analysis.sources import progress_bar
from maskdash.analysis.studies.base import Context, StudyResult, _fm12k_image, records, study
from maskdash.labels import CLASSES, INCORRECT, WITHOUT_MASK


BELOW_NOSE_SOURCES = {
    "dev_scenes": "dev scenes: real photos, holdout fold",
    "extra_faces": "extra faces: real crops, holdout fold",
    "generated": "Test faces without a mask, a mask drawn below the nose",
}


@study("below_nose", "Mask worn below the nose", files=("below_nose.csv", "below_nose_summary.csv"))
def below_nose(ctx: Context) -> StudyResult:
    from maskdash.analysis import calls
    from maskdash.analysis.below_nose import VARIANT_TITLES, VARIANTS, mask_below_nose
    from maskdash.analysis.occluders import FaceGeometry

    three = calls.is_three_class(ctx.classifier)
    parts, where = [], []  # where: per row (image, box, landmarks, drawing, draw seed), in row order
    scene_where, scene_inputs = calls.holdout_scene_faces(ctx.scenes_dir, INCORRECT)
    if len(scene_inputs):
        v = calls.classify(ctx.classifier, scene_inputs, ctx.threshold)
        parts.append(v.assign(source="dev_scenes", variant="real", path=[Path(w[0]).name for w in scene_where],
                              face=[w[1] for w in scene_where], height=[w[3] for w in scene_where]))
        where += [(w[0], w[2], None, "", ()) for w in scene_where]
    root = calls.extra_faces_dir(ctx.fm_dir)
    extra, extra_inputs = calls.holdout_extra_faces(root, lambda f: f.label == INCORRECT)
    if len(extra):
        v = calls.classify(ctx.classifier, extra_inputs, ctx.threshold)
        parts.append(v.assign(source="extra_faces", variant="real", path=[f.path.name for f in extra], face=0,
                              height=None))
        where += [(calls.extra_image(f, root), None, None, "", ()) for f in extra]
    _, landmarks = ctx.test_landmarks
    unmasked = [i for i, t in enumerate(ctx.faces.truth) if t == WITHOUT_MASK]
    drawn, rows = [], []
    for i in progress_bar(unmasked, ctx.progress, "drawing masks below the nose"):
        geo = FaceGeometry.from_landmarks(landmarks[i]) if landmarks[i] is not None else None
        for j, variant in enumerate(VARIANTS):
            seed = (ctx.seed, i, 100 + j)  # apart from the occluders' (seed, i, j)
            drawn.append(mask_below_nose(ctx.faces.inputs[i], variant, geo, np.random.default_rng(seed)).image)
            rows.append({"source": "generated", "variant": variant, "path": ctx.faces.paths[i], "face": 0,
                         "placement": "landmarks" if geo is not None else "typical"})
            where.append((_fm12k_image(ctx.faces.paths[i]), None, landmarks[i], f"mask_{variant}", seed))
    if drawn:
        v = calls.classify(ctx.classifier, np.stack(drawn), ctx.threshold)
        parts.append(pd.concat([pd.DataFrame(rows), v], axis=1))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["source", "variant", "path", "face", "p_mask", "p_incorrect", "label"])
    df["truth"] = INCORRECT
    summary = calls.shares(df, ["source", "variant"], three)
    gen = df[df["source"] == "generated"]
    block = {
        "three_class": three, "table": records(summary),
        "sources": BELOW_NOSE_SOURCES, "variants": VARIANT_TITLES,
        "placed_from_landmarks": float((gen["placement"] == "landmarks").mean()) if len(gen) else None,
        "note": "Every face wears a mask below the nose (truth: mask_incorrect). Called with_mask is the harmful "
                "error: a mask that does not cover the nose passed as worn correctly. A binary model cannot say "
                "mask_incorrect; for it, without_mask (not compliant) is the right answer.",
    }
    shown = []  # per source and variant, the two faces most taken for a correctly worn mask
    for (source, variant), g in df.groupby(["source", "variant"], sort=False):
        for ix in g["p_mask"].sort_values(ascending=False).index[:2]:
            r = df.loc[ix]
            image, box, lm, drawing, seed = where[ix]
            detail = f"{variant.replace('_', ' + ')} (drawn)" if source == "generated" else source.replace("_", " ")
            shown.append(ex.record("below_nose", source, r["path"], r["face"], INCORRECT, r["p_mask"],
                                   f"{detail}, called {r['label']}", image, box, lm, drawing, seed))
    return StudyResult({"below_nose.csv": df, "below_nose_summary.csv": summary}, block, shown)


HAND_GROUPS = {  # group → (title, the extra faces' tags that put a face in it)
    # `ExtraFace.mouth_covered_unmasked`, as `report` counts it: unmasked faces only, and not a
    # scarf pulled up (accepted as a covering); counting those as "taken for a mask" overstated it
    "hand_or_object": ("hand or object over an unmasked mouth (real photos)", ("hand_over_mouth", "object_over_mouth")),
    "hard_negative": ("reviewed hard negatives (real photos)", ("reviewed_hard_negative",)),
}
DRAWN_GROUPS = {"drawn_hand": ("hand drawn over mouth and nose (Test faces)", "hand"),
                "test_untouched": ("the same Test faces, untouched", "none")}


def drawn_hand_rows(ctx: Context) -> tuple[list[dict], str | None]:
    """The occluders study's drawn-hand figures, not recomputed: from this run when it ran the
    occluders study, else from the occluders_summary.csv the results folder holds (kept from an
    earlier run of the same model). → (rows, where they came from)."""
    done = ctx.done.get("occluders")
    found, origin = None, None
    if done is not None:
        found, origin = done.tables.get("occluders_summary.csv"), "this run's occluders study"
    elif ctx.out is not None and (ctx.out / "occluders_summary.csv").is_file():
        found, origin = pd.read_csv(ctx.out / "occluders_summary.csv"), "occluders_summary.csv of this model"
    if found is None or not len(found):
        return [], None
    from maskdash.analysis.calls import is_three_class

    three = is_three_class(ctx.classifier)
    rows = []
    for group, (_, obj) in DRAWN_GROUPS.items():
        r = found[found["object"] == obj]
        if len(r):
            cwm = float(r["called_with_mask"].iloc[0])
            rows.append({"group": group, "n": int(r["n"].iloc[0]), "called_with_mask": cwm,
                         # the occluders table keeps p(with_mask) only: "kept without_mask" is
                         # 1 − called with_mask for a binary model, unknown for a three-class one
                         "called_without_mask": None if three else 1.0 - cwm, "called_incorrect": None,
                         "mean_p_mask": float(r["mean_p_mask"].iloc[0]), "kept_label": None if three else 1.0 - cwm})
    return rows, origin


@study("hands", "Real hands beside drawn ones", needs_faces=False, files=("hands.csv", "hands_summary.csv"))
def hands(ctx: Context) -> StudyResult:
    from maskdash.analysis import calls

    three = calls.is_three_class(ctx.classifier)
    root = calls.extra_faces_dir(ctx.fm_dir)
    wanted = {t for _, tags in HAND_GROUPS.values() for t in tags}
    faces, inputs = calls.holdout_extra_faces(root, lambda f: bool(wanted & set(f.tags)))
    v = calls.classify(ctx.classifier, inputs, ctx.threshold)
    rows = []
    for k, f in enumerate(faces):
        for group, (_, tags) in HAND_GROUPS.items():
            if set(tags) & set(f.tags) and (group != "hand_or_object" or f.mouth_covered_unmasked):
                rows.append({"group": group, "path": f.path.name, "image": calls.extra_image(f, root),
                             "truth": f.label, "tags": ";".join(f.tags), "source": f.source, **v.iloc[k].to_dict()})
    df = pd.DataFrame(rows, columns=["group", "path", "image", "truth", "tags", "source", "p_mask", "p_incorrect",
                                     "label"])
    summary = calls.shares(df, ["group"], three)
    summary["kept_label"] = [float((g["label"] == g["truth"]).mean()) for _, g in df.groupby("group", sort=False)]
    drawn, origin = drawn_hand_rows(ctx)
    summary = pd.concat([summary, pd.DataFrame(drawn, columns=summary.columns)], ignore_index=True)
    summary["real"] = summary["group"].isin(list(HAND_GROUPS))
    block = {
        "three_class": three, "table": records(summary), "extra_faces": str(root) if root else None,
        "titles": {g: t for g, (t, _) in {**HAND_GROUPS, **DRAWN_GROUPS}.items()},
        "tags": {g: list(tags) for g, (_, tags) in HAND_GROUPS.items()},
        "drawn_from": origin,
        "note": "Real faces from the extra faces' holdout fold (no model trained on them) with a hand or an object "
                "over the mouth, and faces a reviewer marked as hard negatives; their truth is without_mask, so "
                "every with_mask call is an error. The groups are small: read each share with its n. The drawn "
                "hand is the occluders study's figure on unmasked Test faces.",
    }
    shown = []
    for ix in df.sort_values("p_mask", ascending=False).drop_duplicates("path").index[:6]:
        r = df.loc[ix]
        shown.append(ex.record("hands", r["group"], r["path"], 0, r["truth"], r["p_mask"],
                               f"{r['group'].replace('_', ' ')}, called {r['label']}", r["image"]))
    return StudyResult({"hands.csv": df, "hands_summary.csv": summary}, block, shown)


def dim_seed(seed: int, index: int) -> int:
    """The camera noise of face `index`: the same at every level, so levels differ only in light."""
    return int(seed) * 1_000_003 + int(index)


@study("dim_webcam", "Dim webcam", files=("dim_webcam.csv", "dim_webcam_summary.csv"))
def dim_webcam(ctx: Context) -> StudyResult:
    from maskdash.analysis import calls
    from maskdash.data.camera import LEVELS, probe_view

    three = calls.is_three_class(ctx.classifier)
    faces = ctx.faces
    parts = []
    for level in ("original", *LEVELS):
        if level == "original":
            images = faces.inputs
        else:
            images = np.stack([probe_view(faces.inputs[i], level, dim_seed(ctx.seed, i))
                               for i in progress_bar(range(len(faces.paths)), ctx.progress, f"webcam: {level}")])
        v = calls.classify(ctx.classifier, images, ctx.threshold)
        parts.append(v.assign(source="test", level=level, path=faces.paths, truth=faces.truth,
                              index=range(len(faces.paths))))
    root = calls.extra_faces_dir(ctx.fm_dir)
    real, real_inputs = calls.holdout_extra_faces(root, lambda f: "dim_webcam" in f.tags)
    if real:
        v = calls.classify(ctx.classifier, real_inputs, ctx.threshold)
        parts.append(v.assign(source="extra_faces", level="real", path=[calls.extra_image(f, root) for f in real],
                              truth=[f.label for f in real], index=-1))
    df = pd.concat(parts, ignore_index=True)
    summary = calls.shares(df, ["source", "level", "truth"], three)
    kept = []
    for (_, _, truth), g in df.groupby(["source", "level", "truth"], sort=False):
        # a binary model cannot keep the label mask_incorrect
        kept.append(None if truth == INCORRECT and not three else float((g["label"] == g["truth"]).mean()))
    summary["kept_label"] = kept
    block = {
        "three_class": three, "faces": len(faces.paths), "levels": {"original": 1.0, **LEVELS},
        "table": records(summary),
        "note": "The run's Test faces (a fixed seeded sample) through the project's fixed dim-webcam rendering "
                "(data.camera.probe_view: a warm lamp, a 64 px face, auto gain with its noise, a little motion "
                "blur, webcam compression) at each darkness level; 'original' is the same faces untouched. "
                "'real' are the extra faces' holdout-fold faces tagged dim_webcam (frames from real webcams).",
    }
    shown = []  # a few faces at every level: the first of each class of the sample
    firsts = [faces.truth.index(c) for c in CLASSES if c in faces.truth]
    for level in ("original", *LEVELS):
        for i in firsts:
            r = df[(df["source"] == "test") & (df["level"] == level) & (df["index"] == i)].iloc[0]
            shown.append(ex.record("dim_webcam", "test", faces.paths[i], 0, faces.truth[i], r["p_mask"],
                                   f"{level}, called {r['label']}", _fm12k_image(faces.paths[i]),
                                   draw_seed=(dim_seed(ctx.seed, i),) if level != "original" else (),
                                   camera="" if level == "original" else level))
    real_df = df[df["source"] == "extra_faces"]
    wrong = real_df[real_df["label"] != real_df["truth"]].sort_values("p_mask", ascending=False)
    for _, r in wrong.head(4).iterrows():
        shown.append(ex.record("dim_webcam", "extra_faces", Path(r["path"]).name, 0, r["truth"], r["p_mask"],
                               f"real dim webcam, called {r['label']}", r["path"]))
    return StudyResult({"dim_webcam.csv": df.drop(columns="index"), "dim_webcam_summary.csv": summary}, block, shown)
