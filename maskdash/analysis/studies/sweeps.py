"""The distance and lighting studies: the same sampled Test faces swept through a range of one
change (face width; brightness and contrast), with their grids."""

from __future__ import annotations

import pandas as pd

from maskdash.analysis.sources import TestFaces
from maskdash.analysis.studies.base import Context, StudyResult, contrast, group_table, records, study

DISTANCE_WIDTHS = (16, 24, 32, 48, 64, 96, 128, 160, 224)
BRIGHTNESS = (0.2, 0.35, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0)
CONTRAST = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


def distance_study(faces: TestFaces, sel: list[int], classifier, progress: bool) -> pd.DataFrame:
    from maskdash.evaluation.evaluate import sweep
    from maskdash.imaging import shrink

    p = sweep(classifier, [faces.native[i] for i in sel], shrink, DISTANCE_WIDTHS, progress, "distance sweep")
    rows = [{"width": w, "path": faces.paths[i], "truth": faces.truth[i], "p_mask": float(q),
             "native_width": int(faces.native[i].shape[1])}
            for w, ps in zip(DISTANCE_WIDTHS, p) for i, q in zip(sel, ps)]
    return pd.DataFrame(rows)


@study("distance", "Distance (face size)", files=("distance.csv",))
def distance(ctx: Context) -> StudyResult:
    dist = distance_study(ctx.faces, ctx.sel, ctx.classifier, ctx.progress)
    table = group_table(dist, ["width", "truth"])
    table["natively_narrower"] = [
        float((dist[(dist["width"] == w) & (dist["truth"] == t)]["native_width"] < w).mean())
        for w, t in zip(table["width"], table["truth"])
    ]
    overall = group_table(dist, ["width"]).assign(truth="all", natively_narrower=None)
    table = pd.concat([overall[table.columns], table], ignore_index=True)
    block = {
        "faces": len(ctx.sel), "widths": list(DISTANCE_WIDTHS), "table": records(table),
        "note": "Each face resized to width × width from its native file, then enlarged back to 224. "
                "Faces natively narrower than a width are enlarged, i.e. unchanged in detail.",
    }
    return StudyResult({"distance.csv": table}, block)


def lighting_study(faces: TestFaces, sel: list[int], classifier, progress: bool) -> pd.DataFrame:
    from maskdash.data.augment import brightness
    from maskdash.evaluation.evaluate import sweep

    rows = []
    images = [faces.inputs[i] for i in sel]
    for kind, op, factors in (("brightness", brightness, BRIGHTNESS),
                              ("contrast", contrast, [f for f in CONTRAST if f != 1.0])):
        p = sweep(classifier, images, op, factors, progress, f"{kind} sweep")
        rows += [{"kind": kind, "factor": f, "path": faces.paths[i], "truth": faces.truth[i], "p_mask": float(q)}
                 for f, ps in zip(factors, p) for i, q in zip(sel, ps)]
    df = pd.DataFrame(rows)
    if len(df):  # contrast ×1 is the unchanged face, the same as brightness ×1
        same = df[(df["kind"] == "brightness") & (df["factor"] == 1.0)].assign(kind="contrast")
        df = pd.concat([df, same], ignore_index=True)
    return df


@study("lighting", "Lighting", files=("lighting.csv",))
def lighting(ctx: Context) -> StudyResult:
    light = lighting_study(ctx.faces, ctx.sel, ctx.classifier, ctx.progress)
    table = group_table(light, ["kind", "factor", "truth"])
    overall = group_table(light, ["kind", "factor"]).assign(truth="all")
    table = pd.concat([overall[table.columns], table], ignore_index=True).sort_values(["kind", "factor", "truth"])
    block = {
        "faces": len(ctx.sel), "brightness": list(BRIGHTNESS), "contrast": list(CONTRAST), "table": records(table),
        "note": "Brightness: every pixel × factor (clipped). Contrast: (pixel − image mean) × factor + mean.",
    }
    return StudyResult({"lighting.csv": table}, block)
