"""The figures a ship rule is written in, from validation data only.

A candidate model is shipped when it passes a rule written down before it is trained (see the
model's NOTES.md); the rule may only look at data that never reports a result: Face Mask 12K
Validation, the extra faces' val fold (also turned grey: black-and-white cameras), the failure
study's drawn occluders over unmasked Validation faces, and the dim-webcam probe over Validation faces. Test, the dev scenes' holdout
and the extra faces' holdout are for `report` and `analyze`, once a model is chosen.

    python -m maskdash validate --model runs/<run>/best.keras [--json figures.json]"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maskdash.data import datasets
from maskdash.evaluation.evaluate import dim_webcam_probe, evaluate_extra, grayscale_kept, scores
from maskdash.labels import CLASSES, CLASSES3, WITH_MASK, WITHOUT_MASK, labels_for

OCCLUDED_FACES = 128  # unmasked Validation faces (the first ones) given each drawn occluder


def _share(x) -> float | None:
    return float(np.mean(x)) if len(x) else None


def _labels(classifier, images: np.ndarray, threshold: float) -> np.ndarray:
    p, pinc = scores(classifier, images)
    return labels_for(p, threshold, pinc)


def validation_split(classifier, images, labels, threshold: float) -> dict:
    """Face Mask 12K Validation in the binary view (with_mask or not)."""
    got = _labels(classifier, images, threshold)
    truth = np.array(CLASSES)[np.asarray(labels, np.int64)]
    return {"n": int(len(truth)), "binary_accuracy": _share((got == WITH_MASK) == (truth == WITH_MASK)),
            "recall": {c: _share((got == WITH_MASK)[truth == c] == (c == WITH_MASK)) for c in CLASSES}}


def extra_val(classifier, extra_dir: Path, threshold: float, limit: int | None = None) -> dict:
    """The extra faces' val fold, measured as `report` measures the holdout: three-class recall per
    class and their mean, the reviewed hard negatives kept without_mask; and the binary view's
    balanced accuracy (with_mask against the rest)."""
    doc, rows = evaluate_extra(classifier, extra_dir, "val", threshold, progress=False, limit=limit)
    t = doc["three_class"]
    truth = np.array([r["truth"] for r in rows])
    masked, called = truth == WITH_MASK, np.array([r["label"] == WITH_MASK for r in rows], bool)
    binary = [v for v in (_share(called[masked]), _share(~called[~masked])) if v is not None]
    return {"n": doc["n"], "n_per_class": {c: sum(row) for c, row in zip(t["classes"], t["confusion"])},
            "recall": t["recall"], "balanced_accuracy": t["balanced_accuracy"],
            "hard_negatives": {k: doc["hard_negatives"][k] for k in ("n", "kept_without_mask")},
            "binary_balanced_accuracy": float(np.mean(binary)) if binary else None, "skipped": doc["skipped"]}


def extra_val_grayscale(classifier, extra_dir: Path, threshold: float, limit: int | None = None) -> dict:
    """The extra faces' val fold turned grey (CCTV, infrared night modes): each class's share keeping
    its label, beside colour — real web photos of many cameras, where the dev holdout showed the loss."""
    faces = datasets.list_extra_faces(extra_dir, ("val",))[:limit]
    loaded = datasets.load_samples([datasets.Sample(f.path, 0, "val") for f in faces], progress=False)
    read = set(loaded.paths)  # a face whose file cannot be read is left out of both
    truth = np.array([f.label for f in faces if str(f.path) in read])
    return grayscale_kept(classifier, loaded.images, truth, _labels(classifier, loaded.images, threshold), threshold)


def drawn_occluders(classifier, images: np.ndarray, labels: np.ndarray, threshold: float,
                    n: int = OCCLUDED_FACES) -> dict:
    """For each of the failure study's drawn occluders: the share of the first `n` unmasked
    Validation faces called with_mask with it over the mouth (a fixed seed per face and kind)."""
    from maskdash.analysis.occluders import OCCLUDERS, occlude

    unmasked = np.flatnonzero(np.asarray(labels) == CLASSES.index(WITHOUT_MASK))[:n]
    out = {"n": int(len(unmasked))}
    for j, kind in enumerate(OCCLUDERS):
        views = np.stack([occlude(images[i], kind, None, rng=np.random.default_rng([0, int(i), j])).image
                          for i in unmasked]) if len(unmasked) else np.zeros((0, 224, 224, 3), np.uint8)
        out[kind] = _share(_labels(classifier, views, threshold) == WITH_MASK)
    return out


def validation_figures(classifier, data_dir: Path | str, extra_dir: Path | str | None, threshold: float = 0.5,
                       limit: int | None = None, dim: bool = True) -> dict:
    """Every figure a ship rule may use (module docstring). `limit`: the first N Validation
    faces and extra val faces only (quick looks; a rule is judged on all of them)."""
    data_dir = Path(data_dir)
    samples = datasets.list_split(data_dir, "Validation")
    if limit:  # both classes, as the split is listed class by class
        per = max(1, limit // len(CLASSES))
        samples = [s for k in range(len(CLASSES)) for s in [t for t in samples if t.label == k][:per]]
    loaded = datasets.load_samples(samples, progress=False)
    if not len(loaded.images):
        raise ValueError(f"no readable faces in {data_dir}'s Validation split ({len(samples)} listed)")
    doc = {"model": str(getattr(classifier, "path", "")), "threshold": threshold, "limit": limit,
           "validation": validation_split(classifier, loaded.images, loaded.labels, threshold),
           "drawn_occluders_called_with_mask": drawn_occluders(classifier, loaded.images, loaded.labels, threshold)}
    if extra_dir is not None and (Path(extra_dir) / "index.csv").is_file():
        doc["extra_val"] = extra_val(classifier, Path(extra_dir), threshold, limit)
        doc["extra_val_grayscale"] = extra_val_grayscale(classifier, Path(extra_dir), threshold, limit)
    if dim:
        doc["dim_webcam"] = dim_webcam_probe(classifier, loaded.images, loaded.labels, threshold)
    if loaded.skipped:
        doc["skipped"] = [vars(s) for s in loaded.skipped]
    return doc


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def format_figures(doc: dict) -> str:
    v = doc["validation"]
    lines = [f"validation figures of {doc['model']} (threshold {doc['threshold']})",
             f"  Face Mask 12K Validation, binary view: {_pct(v['binary_accuracy'])} (n = {v['n']})"]
    if "extra_val" in doc:
        e = doc["extra_val"]
        rec = " / ".join(f"{c} {_pct(e['recall'][c])} (n = {e['n_per_class'][c]})" for c in CLASSES3)
        lines += [f"  extra faces, val fold: balanced {_pct(e['balanced_accuracy'])}; {rec}",
                  f"    reviewed hard negatives kept without_mask {_pct(e['hard_negatives']['kept_without_mask'])} "
                  f"(n = {e['hard_negatives']['n']}); binary view balanced {_pct(e['binary_balanced_accuracy'])}"]
    if "extra_val_grayscale" in doc:
        lines.append("    turned grey, labels kept: " + ", ".join(
            f"{c} {_pct(r['kept'])} (colour {_pct(r['kept_colour'])})" for c, r in doc["extra_val_grayscale"].items()))
    o = doc["drawn_occluders_called_with_mask"]
    lines.append(f"  drawn occluders over {o['n']} unmasked faces, called with_mask: "
                 + ", ".join(f"{k} {_pct(s)}" for k, s in o.items() if k != "n"))
    if "dim_webcam" in doc:
        lines.append("  dim-webcam probe, labels kept: " + "; ".join(
            f"{lvl}: masked {_pct(r[WITH_MASK])}, unmasked {_pct(r[WITHOUT_MASK])}" for lvl, r in doc["dim_webcam"].items()))
    return "\n".join(lines)
