"""Metrics and evaluation reports: accuracy, per-class precision/recall, ROC AUC, calibration
error, confusion matrices, predictions CSVs, the resolution, lighting and dim-webcam probes, and
the extra faces' holdout.

Two views of every answer: the binary one (with_mask or not, from p_mask and the threshold: what
`metrics` measures, for binary and three-class models alike) and, for a three-class model, the
labels themselves (`three_class`: a confusion over with_mask / without_mask / mask_incorrect)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.data import augment

from maskdash.data import datasets
from maskdash.labels import CLASSES, CLASSES3, INCORRECT, WITH_MASK, WITHOUT_MASK, labels_for

RESOLUTION_WIDTHS = (32, 48, 64, 96)
LIGHTING_FACTORS = (0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)


# ---------------------------------------------------------------- metrics (pure)


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann–Whitney U with tied ranks); None if one class is absent."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), np.float64)
    sorted_scores = np.asarray(score)[order]
    i = 0
    while i < len(sorted_scores):  # average ranks over ties
        j = i
        while j + 1 < len(sorted_scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(y_true: np.ndarray, p_mask: np.ndarray, bins: int = 10) -> float:
    """ECE over the confidence of the predicted class, equal-width bins."""
    y_true = np.asarray(y_true)
    p_mask = np.asarray(p_mask, np.float64)
    pred = np.where(p_mask >= 0.5, 0, 1)
    conf = np.where(pred == 0, p_mask, 1 - p_mask)
    correct = pred == y_true
    edges = np.linspace(0.5, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def metrics(y_true: np.ndarray, p_mask: np.ndarray, threshold: float = 0.5) -> dict:
    """`y_true`: 0 = with_mask, 1 = without_mask; `p_mask`: p(with_mask)."""
    y_true = np.asarray(y_true, np.int64)
    p_mask = np.asarray(p_mask, np.float64)
    pred = np.where(p_mask >= threshold, 0, 1)
    conf = np.zeros((2, 2), np.int64)
    for t, p in zip(y_true, pred):
        conf[t, p] += 1
    out: dict = {"n": int(len(y_true)), "threshold": threshold}
    out["accuracy"] = float((pred == y_true).mean()) if len(y_true) else None
    prec, rec, f1 = {}, {}, {}
    for k, name in enumerate(CLASSES):
        tp = conf[k, k]
        p_den, r_den = conf[:, k].sum(), conf[k, :].sum()
        prec[name] = float(tp / p_den) if p_den else None
        rec[name] = float(tp / r_den) if r_den else None
        f1[name] = (
            float(2 * prec[name] * rec[name] / (prec[name] + rec[name]))
            if prec[name] and rec[name] else None
        )
    out["precision"], out["recall"], out["f1"] = prec, rec, f1
    recalls = [r for r in rec.values() if r is not None]
    out["balanced_accuracy"] = float(np.mean(recalls)) if recalls else None
    out["roc_auc"] = roc_auc(y_true == 0, p_mask)
    out["ece"] = expected_calibration_error(y_true, p_mask) if len(y_true) else None
    out["confusion"] = conf.tolist()
    return out


def three_class(truth: np.ndarray, labels: np.ndarray) -> dict:
    """The labels against the truths (names): a confusion over CLASSES3 (rows truth, columns
    label), each truth class's recall and their mean over the classes present."""
    truth, labels = np.asarray(truth).astype(str), np.asarray(labels).astype(str)
    conf = [[int(((truth == t) & (labels == c)).sum()) for c in CLASSES3] for t in CLASSES3]
    recall = {t: (conf[i][i] / sum(conf[i]) if sum(conf[i]) else None) for i, t in enumerate(CLASSES3)}
    present = [r for r in recall.values() if r is not None]
    return {"classes": list(CLASSES3), "confusion": conf, "recall": recall,
            "balanced_accuracy": float(np.mean(present)) if present else None, "n": int(len(truth))}


def scores(classifier, images: np.ndarray, batch: int = 64, progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(p_mask, p_incorrect) of every face; p_incorrect is None for a binary model."""
    from tqdm import tqdm

    units = getattr(classifier, "units", 2)
    out = [classifier.probabilities(images[i : i + batch])
           for i in tqdm(range(0, len(images), batch), disable=not progress, desc="classifying")]
    probs = np.concatenate(out) if out else np.zeros((0, units), np.float32)
    return probs[:, 0].astype(np.float32), (probs[:, 2].astype(np.float32) if probs.shape[1] > 2 else None)


def _p_incorrect(pinc: np.ndarray | None, i: int):
    return "" if pinc is None else round(float(pinc[i]), 6)


def format_metrics(name: str, m: dict) -> str:
    def pct(v):
        return "  –  " if v is None else f"{100 * v:6.2f}%"

    return (
        f"{name:<20} n={m['n']:<5} acc {pct(m['accuracy'])}  bal {pct(m['balanced_accuracy'])}  "
        f"recall mask {pct(m['recall']['with_mask'])} / no-mask {pct(m['recall']['without_mask'])}  "
        f"AUC {'–' if m['roc_auc'] is None else round(m['roc_auc'], 4)}  ECE {'–' if m['ece'] is None else round(m['ece'], 4)}"
    )


# ---------------------------------------------------------------- writers


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_confusion(path: Path, conf: list[list[int]]) -> None:
    """A 2×2 (binary view) or 3×3 (three-class labels) confusion, rows truth, columns label."""
    names = CLASSES if len(conf) == 2 else CLASSES3
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", *names])
        for name, row in zip(names, conf):
            w.writerow([name, *row])


CLS_COLUMNS = ["path", "truth", "label", "p_mask", "width", "p_incorrect"]
SCENE_EVAL_COLUMNS = ["path", "face", "x1", "y1", "x2", "y2", "truth", "fold", "label", "p_mask", "height", "p_incorrect"]
EXTRA_COLUMNS = ["path", "truth", "source", "tags", "label", "p_mask", "p_incorrect"]


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- evaluations


def evaluate_split(classifier, data_dir: Path, split: str, threshold: float = 0.5, progress: bool = True):
    """→ (loaded images, p_mask, rows for predictions CSV, p_incorrect or None)."""
    listed = datasets.list_split(data_dir, split)
    loaded = datasets.load_samples(listed, progress=progress)
    if not len(loaded.images):
        why = f"; e.g. {loaded.skipped[0].path}: {loaded.skipped[0].reason}" if loaded.skipped else ""
        raise ValueError(f"no readable images in {settings.display_path(Path(data_dir) / split)} "
                         f"({len(listed)} listed, {len(loaded.skipped)} unreadable{why})")
    p, pinc = scores(classifier, loaded.images, progress=progress)
    labels = labels_for(p, threshold, pinc)
    rows = [
        {"path": _rel(path, Path(data_dir)), "truth": CLASSES[t], "label": lab,
         "p_mask": round(float(q), 6), "width": int(w), "p_incorrect": _p_incorrect(pinc, i)}
        for i, (path, t, q, w, lab) in enumerate(zip(loaded.paths, loaded.labels, p, loaded.native_widths, labels))
    ]
    return loaded, p, rows, pinc


def sweep(classifier, images, transform, values, progress: bool = False, desc: str = "sweep") -> np.ndarray:
    """p(with_mask) of every image under every condition: row k is the classifier on
    `transform(image, values[k])` for each image (each must give a 224×224×3 face). The one
    implementation behind the probes below and the failure analysis' distance and lighting studies."""
    from tqdm import tqdm

    rows = [classifier.predict_batched(np.stack([transform(img, v) for img in images]))
            for v in tqdm(values, desc=desc, disable=not progress, leave=False)]
    return np.stack(rows) if rows else np.zeros((0, len(images)), np.float32)


def _probe(classifier, images: np.ndarray, labels: np.ndarray, transform, values, threshold: float,
           keys: tuple[str, ...]) -> dict:
    """Per condition: accuracy and each class's recall (the share that keeps its label), under
    `keys` in that order (the order metrics.json has always had)."""
    out = {}
    for v, p in zip(values, sweep(classifier, images, transform, values)):
        m = metrics(labels, p, threshold)
        figures = {"accuracy": m["accuracy"], **{c: m["recall"][c] for c in CLASSES}}
        out[str(v)] = {k: figures[k] for k in keys}
    return out


def resolution_probe(classifier, images: np.ndarray, labels: np.ndarray, widths=RESOLUTION_WIDTHS,
                     threshold: float = 0.5) -> dict:
    """Each face shrunk to `width` px wide and enlarged back: does it keep its label?"""
    from maskdash.imaging import shrink

    return _probe(classifier, images, labels, lambda img, w: shrink(img, w, img.shape[0]), widths, threshold,
                  (*CLASSES, "accuracy"))


def lighting_probe(classifier, images: np.ndarray, labels: np.ndarray, factors=LIGHTING_FACTORS,
                   threshold: float = 0.5) -> dict:
    """Each face's brightness multiplied by a factor: does it keep its label?"""
    return _probe(classifier, images, labels, augment.brightness, factors, threshold, ("accuracy", *CLASSES))


def evaluate_scenes(classifier, scenes_dir: Path, threshold: float = 0.5, progress: bool = True):
    """Face-level evaluation on ground-truth boxes → (metrics per subset, rows)."""
    scenes, _ = datasets.list_scenes(scenes_dir)
    faces = datasets.load_scene_faces(scenes, progress=progress)
    p, pinc = scores(classifier, faces.images, progress=progress)
    labels = labels_for(p, threshold, pinc)
    rows, face_index = [], {}
    for i, (path, box, truth, q) in enumerate(zip(faces.image_paths, faces.boxes, faces.labels, p)):
        k = face_index[path] = face_index.get(path, -1) + 1
        rows.append({
            "path": Path(path).name, "face": k, "x1": int(box.x1), "y1": int(box.y1), "x2": int(box.x2),
            "y2": int(box.y2), "truth": truth, "fold": datasets.scene_fold(path),
            "label": str(labels[i]), "p_mask": round(float(q), 6),
            "height": int(box.height), "p_incorrect": _p_incorrect(pinc, i),
        })
    results = {}
    truth = np.array([r["truth"] for r in rows])
    folds = np.array([r["fold"] for r in rows])
    for name, sel in (("dev_scenes", np.ones(len(rows), bool)), ("dev_scenes_holdout", folds == "holdout")):
        two = sel & np.isin(truth, CLASSES)
        y = np.array([CLASSES.index(t) for t in truth[two]])
        results[name] = metrics(y, p[two], threshold)
        if pinc is not None:
            results[name]["three_class"] = three_class(truth[sel], labels[sel])
    heights = np.array([r["height"] for r in rows])
    results["dev_scenes_holdout_by_height"] = by_height(truth, p, heights, folds == "holdout", threshold)
    for key, sel in (("dev_scenes_incorrect", truth == INCORRECT),
                     ("dev_scenes_holdout_incorrect", (truth == INCORRECT) & (folds == "holdout"))):
        results[key] = {
            "n": int(sel.sum()),
            "called_with_mask": float((labels[sel] == WITH_MASK).mean()) if sel.any() else None,
            "called_incorrect": float((labels[sel] == INCORRECT).mean()) if sel.any() and pinc is not None else None,
            "mean_p_mask": float(p[sel].mean()) if sel.any() else None,
        }
    hold = folds == "holdout"
    results["dev_scenes_holdout_grayscale"] = grayscale_kept(classifier, faces.images[hold], truth[hold],
                                                             labels[hold], threshold)
    return results, rows


def grayscale_kept(classifier, images: np.ndarray, truth: np.ndarray, colour_labels: np.ndarray,
                   threshold: float = 0.5) -> dict:
    """Each class's share keeping its label in black and white, beside the share in colour."""
    p, pinc = scores(classifier, augment.grey(images))
    got = labels_for(p, threshold, pinc)
    return {c: {"n": int((truth == c).sum()), "kept": _share(got[truth == c] == c),
                "kept_colour": _share(colour_labels[truth == c] == c)}
            for c in CLASSES3 if (truth == c).any()}


def _share(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if len(x) else None


def evaluate_extra(classifier, extra_dir: Path, fold: str = "holdout", threshold: float = 0.5,
                   progress: bool = True, limit: int | None = None) -> tuple[dict, list[dict]]:
    """The extra faces of one fold (real crops: masks below the nose, hands and objects at the
    mouth, dim webcams, reviewed hard negatives) → (figures, rows). Quote the holdout fold only
    once a model is chosen: it is never learnt from and never chooses a checkpoint."""
    faces = datasets.list_extra_faces(extra_dir, (fold,))[:limit]
    loaded = datasets.load_samples([datasets.Sample(f.path, 0, fold) for f in faces], progress=progress)
    by_path = {str(f.path): f for f in faces}
    kept = [by_path[p] for p in loaded.paths]
    p, pinc = scores(classifier, loaded.images, progress=progress)
    labels = labels_for(p, threshold, pinc)
    truth = np.array([f.label for f in kept])
    tags = [set(f.tags) for f in kept]
    rows = [{"path": _rel(str(f.path), Path(extra_dir)), "truth": f.label, "source": f.source,
             "tags": ";".join(f.tags), "label": str(labels[i]), "p_mask": round(float(p[i]), 6),
             "p_incorrect": _p_incorrect(pinc, i)} for i, f in enumerate(kept)]

    def has(*names: str) -> np.ndarray:
        return np.array([bool(t & set(names)) for t in tags], bool)

    unmasked = truth == WITHOUT_MASK
    covered = np.array([f.mouth_covered_unmasked for f in kept], bool)
    hands = unmasked & has("hand_over_mouth")
    hard = unmasked & has("reviewed_hard_negative")
    dim = has("dim_webcam")
    two = np.isin(truth, CLASSES)
    doc = {
        "fold": fold, "n": int(len(truth)), "skipped": [vars(s) for s in loaded.skipped],
        "binary": metrics(np.array([CLASSES.index(t) for t in truth[two]]), p[two], threshold),
        "three_class": three_class(truth, labels),
        "incorrect": {"n": int((truth == INCORRECT).sum()),
                      "called_incorrect": _share(labels[truth == INCORRECT] == INCORRECT),
                      "called_with_mask": _share(labels[truth == INCORRECT] == WITH_MASK)},
        "hand_or_object_over_mouth": {"n": int(covered.sum()), "called_with_mask": _share(labels[covered] == WITH_MASK),
                                      "hands": int(hands.sum()),
                                      "hands_called_with_mask": _share(labels[hands] == WITH_MASK)},
        "hard_negatives": {"n": int(hard.sum()), "kept_without_mask": _share(labels[hard] == WITHOUT_MASK),
                           "called_with_mask": _share(labels[hard] == WITH_MASK)},
        "dim_webcam": {c: {"n": int((dim & (truth == c)).sum()), "kept": _share(labels[dim & (truth == c)] == c)}
                       for c in CLASSES3},
    }
    return doc, rows


def dim_webcam_probe(classifier, images: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict:
    """Face Mask 12K faces through the dim-webcam camera model (`data.camera.probe_view`) at each
    darkness level: the share of each class that keeps its label (three-class labels for a
    three-class model: an unmasked face called mask_incorrect has lost its label)."""
    from maskdash.data import camera

    out = {}
    for level in camera.LEVELS:
        views = np.stack([camera.probe_view(img, level, seed=i) for i, img in enumerate(images)])
        p, pinc = scores(classifier, views)
        got = labels_for(p, threshold, pinc)
        truth = np.array(CLASSES)[np.asarray(labels, np.int64)]
        out[level] = {c: _share(got[truth == c] == c) for c in CLASSES}
        out[level]["n"] = int(len(truth))
    return out


HEIGHT_BINS = (0, 16, 24, 32, 48, 10_000)


def by_height(truth: np.ndarray, p: np.ndarray, heights: np.ndarray, sel: np.ndarray,
              threshold: float = 0.5) -> list[dict]:
    """Per-class recall by face height in pixels: small faces are where the data set's
    'small means masked' shortcut shows."""
    out = []
    for lo, hi in zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:]):
        b = sel & (heights >= lo) & (heights < hi)
        row: dict = {"min_px": lo, "max_px": hi}
        for k, cls in enumerate(CLASSES):
            c = b & (truth == cls)
            called = p[c] >= threshold if k == 0 else p[c] < threshold
            row[f"n_{cls}"] = int(c.sum())
            row[f"recall_{cls}"] = float(called.mean()) if c.any() else None
        out.append(row)
    return out


def throughput(classifier, n_batch: int = 256, n_single: int = 50) -> dict:
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (n_batch, 224, 224, 3), dtype=np.uint8)
    classifier.predict_batched(faces[:64])
    t = time.perf_counter()
    classifier.predict_batched(faces, batch=64)
    batch_rate = n_batch / (time.perf_counter() - t)
    times = []
    for i in range(n_single):
        t = time.perf_counter()
        classifier.predict(faces[i : i + 1])
        times.append(time.perf_counter() - t)
    single = float(np.median(times) * 1000)
    return {"batch_faces_per_s": round(batch_rate, 1), "single_ms": round(single, 2),
            "single_faces_per_s": round(1000 / single, 1)}


def machine_description() -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores (no GPU)"


def evaluate_to_dir(classifier, data_dir: Path, split: str, out: Path, name: str | None = None,
                    dedup: set[str] | None = None, threshold: float = 0.5, probes: bool = False,
                    progress: bool = True) -> dict:
    """The `evaluate` command: metrics JSON + confusion + predictions for one split (and its
    de-duplicated subset when `dedup` lists the kept paths)."""
    name = name or split.lower()
    loaded, p, rows, pinc = evaluate_split(classifier, data_dir, split, threshold, progress)
    results = {name: metrics(loaded.labels, p, threshold)}
    if pinc is not None:
        results[name]["three_class"] = three_class([r["truth"] for r in rows], [r["label"] for r in rows])
    write_csv(out / f"predictions_{name}.csv", CLS_COLUMNS, rows)
    write_confusion(out / f"confusion_{name}.csv", results[name]["confusion"])
    if dedup is not None:
        keep = np.array([r["path"] in dedup for r in rows])
        results[f"{name}_dedup"] = metrics(loaded.labels[keep], p[keep], threshold)
        if pinc is not None:
            results[f"{name}_dedup"]["three_class"] = three_class(
                [r["truth"] for r, k in zip(rows, keep) if k], [r["label"] for r, k in zip(rows, keep) if k])
        write_csv(out / f"predictions_{name}_dedup.csv", CLS_COLUMNS, [r for r, k in zip(rows, keep) if k])
        write_confusion(out / f"confusion_{name}_dedup.csv", results[f"{name}_dedup"]["confusion"])
    extra = {}
    if probes:
        extra["probes"] = {
            "resolution": resolution_probe(classifier, loaded.images, loaded.labels, threshold=threshold),
            "lighting": lighting_probe(classifier, loaded.images, loaded.labels, threshold=threshold),
            "dim_webcam": dim_webcam_probe(classifier, loaded.images, loaded.labels, threshold=threshold),
        }
    doc = {"model": str(classifier.path), "data": str(data_dir), "split": split, "threshold": threshold,
           "sets": results, "skipped": [vars(s) for s in loaded.skipped], **extra}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(doc, indent=2))
    return doc
