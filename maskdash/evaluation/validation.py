"""The figures a ship rule is written in, from validation data only.

A candidate model is shipped when it passes a rule written down before it is trained (see the
model's NOTES.md); the rule may only look at data that never reports a result: Face Mask 12K
Validation, the extra faces' val fold, the failure study's drawn occluders over unmasked
Validation faces, and the dim-webcam probe over Validation faces. Test, the dev scenes' holdout
and the extra faces' holdout are for `report` and `analyze`, once a model is chosen.

    python -m maskdash validate --model runs/<run>/best.keras [--json figures.json]"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from maskdash.data import datasets
from maskdash.evaluation.evaluate import dim_webcam_probe, scores
from maskdash.labels import CLASSES, CLASSES3, WITH_MASK, WITHOUT_MASK, labels_for

OCCLUDED_FACES = 128  # unmasked Validation faces (the first ones) given each drawn occluder
HARD_NEGATIVE_TAG = "reviewed_hard_negative"


def _share(x) -> float | None:
    x = np.asarray(x)
    return float(np.mean(x)) if x.size else None


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
    """The extra faces' val fold: three-class recall per class, their mean, the reviewed hard
    negatives kept without_mask, and the binary view's balanced accuracy."""
    faces = datasets.list_extra_faces(extra_dir, ("val",))[:limit]
    loaded = datasets.load_samples([datasets.Sample(f.path, 0, "val") for f in faces], progress=False)
    by_path = {str(f.path): f for f in faces}
    kept = [by_path[p] for p in loaded.paths]
    got = _labels(classifier, loaded.images, threshold)
    truth = np.array([f.label for f in kept])
    hard = np.array([HARD_NEGATIVE_TAG in f.tags for f in kept], bool)
    recall = {c: _share(got[truth == c] == c) for c in CLASSES3}
    present = [v for v in recall.values() if v is not None]
    masked = truth == WITH_MASK
    binary = [_share(got[masked] == WITH_MASK), _share(got[~masked] != WITH_MASK)]
    return {"n": int(len(truth)), "n_per_class": {c: int((truth == c).sum()) for c in CLASSES3},
            "recall": recall, "balanced_accuracy": float(np.mean(present)) if present else None,
            "hard_negatives": {"n": int(hard.sum()), "kept_without_mask": _share(got[hard] == WITHOUT_MASK)},
            "binary_balanced_accuracy": float(np.mean([b for b in binary if b is not None]))
            if any(b is not None for b in binary) else None,
            "skipped": [vars(s) for s in loaded.skipped]}


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
    doc = {"model": str(getattr(classifier, "path", "")), "threshold": threshold, "limit": limit,
           "validation": validation_split(classifier, loaded.images, loaded.labels, threshold),
           "drawn_occluders_called_with_mask": drawn_occluders(classifier, loaded.images, loaded.labels, threshold)}
    if extra_dir is not None and (Path(extra_dir) / "index.csv").is_file():
        doc["extra_val"] = extra_val(classifier, Path(extra_dir), threshold, limit)
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
    o = doc["drawn_occluders_called_with_mask"]
    lines.append(f"  drawn occluders over {o['n']} unmasked faces, called with_mask: "
                 + ", ".join(f"{k} {_pct(s)}" for k, s in o.items() if k != "n"))
    if "dim_webcam" in doc:
        lines.append("  dim-webcam probe, labels kept: " + "; ".join(
            f"{lvl}: masked {_pct(r[WITH_MASK])}, unmasked {_pct(r[WITHOUT_MASK])}" for lvl, r in doc["dim_webcam"].items()))
    return "\n".join(lines)


def write_json(doc: dict, path: Path | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
