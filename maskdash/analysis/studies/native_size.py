"""The native size study: the width histogram per split and class, and (from the model's committed
predictions) Test accuracy by native width."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from maskdash.analysis.studies.base import Context, StudyResult, group_table, records, study
from maskdash.labels import CLASSES

SIZE_EDGES = (0, 32, 48, 64, 96, 128, 160, 192, 224, 256, 384)


def size_bin(width: float) -> str:
    for lo, hi in zip(SIZE_EDGES[:-1], SIZE_EDGES[1:]):
        if width < hi:
            return f"{lo}–{hi}"
    return f"{SIZE_EDGES[-1]}+"


SIZE_BINS = tuple(size_bin(lo) for lo in SIZE_EDGES)


def native_sizes(fm_dir: Path) -> pd.DataFrame:
    """Width and height of every file of every split (read from the headers, not decoded)."""
    from PIL import Image

    from maskdash.data.datasets import list_split, list_splits

    rows = []
    for split in list_splits(fm_dir):
        for s in list_split(fm_dir, split):
            try:
                with Image.open(s.path) as im:
                    w, h = im.size
            except (OSError, ValueError):
                continue
            rows.append({"split": s.split, "truth": CLASSES[s.label], "width": w, "height": h})
    return pd.DataFrame(rows, columns=["split", "truth", "width", "height"])


def native_size_tables(sizes: pd.DataFrame) -> pd.DataFrame:
    t = sizes.assign(size_bin=pd.Categorical([size_bin(w) for w in sizes["width"]], categories=list(SIZE_BINS)))
    return (t.groupby(["split", "truth", "size_bin"], observed=False).size().rename("count").reset_index()
            .assign(size_bin=lambda d: d["size_bin"].astype(str)))


def native_accuracy(preds: pd.DataFrame) -> pd.DataFrame:
    """Accuracy by native width bin on the full Test split (from predictions_test.csv)."""
    d = preds[preds["truth"].isin(CLASSES)].dropna(subset=["width", "p_mask"]).copy()
    d["size_bin"] = pd.Categorical([size_bin(w) for w in d["width"]], categories=list(SIZE_BINS), ordered=True)
    d = d.sort_values(["size_bin", "truth"])
    t = group_table(d, ["size_bin", "truth"])
    t["size_bin"] = t["size_bin"].astype(str)
    return t


@study("native_size", "Native image size", needs_faces=False,
       files=("native_sizes.csv", "native_accuracy.csv"))
def native_size(ctx: Context) -> StudyResult:
    sizes = native_sizes(ctx.fm_dir)
    tables = {"native_sizes.csv": native_size_tables(sizes)}
    med = {s: {t: float(g["width"].median()) for t, g in d.groupby("truth")} for s, d in sizes.groupby("split")}
    block: dict = {"median_width": med, "files": int(len(sizes))}
    preds_path = ctx.ref.folder / "predictions_test.csv"
    if preds_path.is_file():
        preds = pd.read_csv(preds_path)
        if {"truth", "p_mask", "width"} <= set(preds.columns):
            acc = native_accuracy(preds)
            tables["native_accuracy.csv"] = acc
            block["test_accuracy_by_width"] = records(acc)
    return StudyResult(tables, block)
