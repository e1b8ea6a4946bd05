"""The whole photo pipeline on the dev scenes, as a user gets it: detector + classifier.

A labelled face counts as *found and labelled* when a detection overlaps it (greedy matching,
IoU ≥ `min_iou`) and the classifier's verdict on the detected box's crop is right. A mask worn
below the nose (`mask_weared_incorrect`) is right when not called with_mask (as in the failure
analysis): the mask does not protect. Detections that match no labelled face are false positives.

Figures: all labelled faces, each class on its own, recall by face height (photo pixels) per
class, faces at least 32 px tall, false positives per image — for one fold of
`datasets.scene_fold`. Settings are chosen on 'train'; 'holdout' is measured once.

    python -m maskdash scenes --fold train --detector yunet-multiscale"""

from __future__ import annotations

from pathlib import Path


from maskdash.data import datasets
from maskdash.labels import CLASSES, INCORRECT, WITH_MASK, WITHOUT_MASK

SCENE_CLASSES = (WITH_MASK, WITHOUT_MASK, INCORRECT)
HEIGHT_BINS = (0, 12, 16, 24, 32, 48, None)  # None: no upper bound
LARGE_FACE_PX = 32


def right_label(truth: str, label: str) -> bool:
    """Is `label` the right verdict for a face labelled `truth`?"""
    if truth == INCORRECT:
        return label != WITH_MASK
    return label == truth


def _bin_name(lo, hi) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def match(gt_boxes, det_boxes, min_iou: float) -> list[tuple[int, int]]:
    """(ground-truth index, detection index) pairs, greedy by IoU (the tracker's matcher)."""
    from maskdash.inference.tracking import greedy_match, iou_matrix

    if not len(gt_boxes) or not len(det_boxes):
        return []
    return [(int(i), int(j)) for i, j in greedy_match(iou_matrix(list(gt_boxes), list(det_boxes)), min_iou)]


def face_records(scene, dets, verdicts_by_det: dict[int, str] | None, min_iou: float,
                 enlarge: float = 1.0) -> tuple[list[dict], list[int]]:
    """One record per labelled face (truth, height in the labelled photo's pixels, found, label) and
    the unmatched detections' indices. `verdicts_by_det`: detection index → label (None: detection
    only, label unknown). `enlarge`: the detections are in a copy of the photo enlarged this much."""
    pairs = match([(b.x1 * enlarge, b.y1 * enlarge, b.x2 * enlarge, b.y2 * enlarge) for b in scene.boxes],
                  [d.box for d in dets], min_iou)
    det_of = {i: j for i, j in pairs}
    records = []
    for i, b in enumerate(scene.boxes):
        j = det_of.get(i)
        label = None if j is None or verdicts_by_det is None else verdicts_by_det[j]
        records.append({"truth": b.label, "height": float(b.height), "found": j is not None, "label": label})
    matched = set(det_of.values())
    return records, [j for j in range(len(dets)) if j not in matched]


def _share(k: int, n: int):
    return k / n if n else None


def _summary(recs: list[dict], with_labels: bool) -> dict:
    n = len(recs)
    found = sum(r["found"] for r in recs)
    out = {"n": n, "found": found, "found_share": _share(found, n)}
    if with_labels:
        ok = sum(r["found"] and right_label(r["truth"], r["label"]) for r in recs)
        out.update({"right": ok, "right_share": _share(ok, n)})
    return out


def summarise(records: list[dict], false_positives: int, images: int, with_labels: bool = True) -> dict:
    """Figures from the face records of a set of images (see module docstring)."""
    out = {"images": images, "all": _summary(records, with_labels),
           "two_class": _summary([r for r in records if r["truth"] in CLASSES], with_labels),
           "per_class": {c: _summary([r for r in records if r["truth"] == c], with_labels) for c in SCENE_CLASSES},
           f"faces_{LARGE_FACE_PX}px_plus": _summary([r for r in records if r["height"] >= LARGE_FACE_PX], with_labels),
           "false_positives": false_positives,
           "false_positives_per_image": false_positives / images if images else None}
    bins = []
    for lo, hi in zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:]):
        inside = [r for r in records if r["height"] >= lo and (hi is None or r["height"] < hi)]
        row = {"bin": _bin_name(lo, hi), **_summary(inside, with_labels)}
        row["per_class"] = {c: _summary([r for r in inside if r["truth"] == c], with_labels) for c in SCENE_CLASSES}
        bins.append(row)
    out["by_height"] = bins
    return out


def fold_scenes(scenes_dir: Path | str, fold: str, limit: int | None = None, skipped: list | None = None) -> list:
    """The labelled photos of one fold; `skipped` (a list) receives the annotations that could not be used."""
    if fold not in ("train", "holdout", "all"):
        raise ValueError(f"fold must be train, holdout or all, got {fold!r}")
    scenes, bad = datasets.list_scenes(scenes_dir)
    if skipped is not None:
        skipped += [f"{Path(b.path).name}: {b.reason}" for b in bad]
    if fold != "all":
        scenes = [s for s in scenes if datasets.scene_fold(s.image_path) == fold]
    return scenes[:limit] if limit else scenes


def evaluate_pipeline(detector, classifier, scenes, min_iou: float = 0.4, det_threshold: float | None = None,
                      mask_threshold: float = 0.5, progress: bool = True, on_false_positive=None,
                      enlarge: float = 1.0) -> dict:
    """Detect, crop and classify every face of `scenes` exactly as the Photos page does.
    `classifier` None: detection only (found, not labels). `on_false_positive(scene, rgb, det)`
    sees each unmatched detection (to save crops for a look). `enlarge` > 1: each photo enlarged
    that much first (bicubic), a stand-in for the larger photos users upload (the dev photos are
    400 px long); heights and the height bins stay in the labelled photo's pixels."""
    import cv2
    from tqdm import tqdm

    from maskdash.imaging import ImageError, load_rgb
    from maskdash.inference.faces import classify_detections

    records, fps, images, skipped = [], 0, 0, []
    for scene in tqdm(scenes, desc=f"scenes ({detector.name})", disable=not progress, unit="img"):
        try:
            rgb = load_rgb(scene.image_path)
        except ImageError as exc:
            skipped.append(f"{scene.image_path.name}: {exc}")
            continue
        images += 1
        if enlarge != 1.0:
            rgb = cv2.resize(rgb, None, fx=enlarge, fy=enlarge, interpolation=cv2.INTER_CUBIC)
        dets = detector.detect(rgb, det_threshold)
        verdicts = None
        if classifier is not None:
            verdicts = {i: v.label for i, v in enumerate(classify_detections(rgb, dets, classifier, mask_threshold))}
        recs, unmatched = face_records(scene, dets, verdicts, min_iou, enlarge)
        records += recs
        fps += len(unmatched)
        if on_false_positive is not None:
            for j in unmatched:
                on_false_positive(scene, rgb, dets[j])
    doc = {"detector": detector.name, "min_iou": min_iou, "mask_threshold": mask_threshold,
           **({"enlarge": enlarge} if enlarge != 1.0 else {}), **summarise(records, fps, images, classifier is not None)}
    if skipped:
        doc["skipped"] = skipped
    return doc


def _pct(v) -> str:
    return "   – " if v is None else f"{100 * v:5.1f}%"


def format_report(doc: dict) -> str:
    key = "right_share" if "right_share" in doc["all"] else "found_share"
    what = "found and labelled right" if key == "right_share" else "found"
    enlarged = f", each enlarged {doc['enlarge']:g}×" if doc.get("enlarge", 1.0) != 1.0 else ""
    lines = [f"{doc['detector']}: {doc['images']} images{enlarged}, {what} (IoU ≥ {doc['min_iou']})"]
    for name, s in [("all", doc["all"]), ("with+without", doc["two_class"]), *doc["per_class"].items(),
                    (f"≥{LARGE_FACE_PX} px", doc[f"faces_{LARGE_FACE_PX}px_plus"])]:
        lines.append(f"  {name:<22} {_pct(s[key])}  (found {_pct(s['found_share'])}, n={s['n']})")
    per_image = doc["false_positives_per_image"]
    lines.append(f"  false positives per image {'–' if per_image is None else f'{per_image:.2f}'} ({doc['false_positives']})")
    lines.append("  by height: " + "  ".join(f"{r['bin']}: {_pct(r[key])} n={r['n']}" for r in doc["by_height"]))
    for c in SCENE_CLASSES:
        lines.append(f"    {c:<22}" + "  ".join(f"{_pct(r['per_class'][c][key])}/{r['per_class'][c]['n']}"
                                                 for r in doc["by_height"]))
    return "\n".join(lines)
