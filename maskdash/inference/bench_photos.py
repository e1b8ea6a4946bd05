"""`python -m maskdash bench photos`: seconds per photo, stage by stage, as the Photos page runs.

Stages: decode (JPEG bytes → RGB), detect, crop, classify (one batched call), draw. Photos: a
sample of the dev scenes' holdout fold (about 400 px wide), and one dev photo enlarged to 1280 px
and to 4000 px on its long side and re-encoded as JPEG, so that big photos are timed with their
real decode cost. Each photo is run `repeats` times; the median of every stage is reported."""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from maskdash import settings

STAGES = ("decode", "detect", "crop", "classify", "draw")
BIG_SIDES = (1280, 4000)


def _jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def enlarged(data: bytes, long_side: int) -> bytes:
    """A photo's JPEG bytes enlarged to `long_side` px on its long side (re-encoded as JPEG)."""
    from maskdash.imaging import load_rgb, resize

    rgb = load_rgb(data)
    h, w = rgb.shape[:2]
    s = long_side / max(w, h)
    return _jpeg(resize(rgb, max(1, round(w * s)), max(1, round(h * s))))


def _readable(path: Path, skipped: list[str]) -> bytes | None:
    """The photo's bytes if it decodes; else None, with '<name>: <reason>' added to `skipped`."""
    from maskdash.imaging import ImageError, load_rgb

    try:
        data = path.read_bytes()
        load_rgb(data)
    except (ImageError, OSError) as exc:
        skipped.append(f"{path.name}: {exc}")
        return None
    return data


def time_photo(data: bytes, detector, classifier) -> dict:
    """Seconds per stage for one photo, plus the face count and the photo's size."""
    from maskdash.imaging import load_rgb
    from maskdash.inference.draw import annotate
    from maskdash.inference.faces import class_probabilities, crop_all
    from maskdash.inference.results import pixel_box
    from maskdash.labels import label_for

    t0 = time.perf_counter()
    rgb = load_rgb(data)
    t1 = time.perf_counter()
    dets = detector.detect(rgb)
    t2 = time.perf_counter()
    crops = crop_all(rgb, [d.box for d in dets])
    t3 = time.perf_counter()
    p_mask, p_inc = class_probabilities(classifier, crops)
    t4 = time.perf_counter()
    faces = [replace(d, box=pixel_box(d.box), p_mask=float(p), p_incorrect=float(q), label=label_for(float(p), p_incorrect=float(q)))
             for d, p, q in zip(dets, p_mask, p_inc)]
    annotate(rgb, faces)
    t5 = time.perf_counter()
    t = dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)))
    t["total"] = t5 - t0
    return {"seconds": t, "faces": len(dets), "size": [int(rgb.shape[1]), int(rgb.shape[0])]}


def _medians(runs: list[dict]) -> dict:
    keys = (*STAGES, "total")
    return {k: round(statistics.median(r["seconds"][k] for r in runs), 4) for k in keys}


def bench_photos(detector_name: str | None = None, model: str | None = None, scenes_dir: str | None = None,
                 sample: int = 20, repeats: int = 3, big_sides=BIG_SIDES, progress: bool = True) -> dict:
    """Median seconds per stage for dev holdout photos and for enlarged copies of one of them."""
    from maskdash.evaluation.evaluate import machine_description
    from maskdash.evaluation.scenes import fold_scenes
    from maskdash.inference.detection import default_photo_detector, make_detector_or_fallback
    from maskdash.model.runtime import load_classifier

    if sample < 1 or repeats < 1:
        raise ValueError("--sample and --repeats must be at least 1")
    detector, note = make_detector_or_fallback(detector_name or default_photo_detector())
    classifier = load_classifier(model)
    scenes = fold_scenes(scenes_dir or settings.dev_scenes_dir(), "holdout")
    if not scenes:
        raise FileNotFoundError("no dev holdout photos to time")
    step = max(1, len(scenes) // sample)
    chosen, photos, skipped = [], [], []
    for scene in scenes[::step][:sample]:
        data = _readable(Path(scene.image_path), skipped)
        if data is not None:
            chosen.append(scene)
            photos.append(data)
    if not photos:
        raise ValueError(f"none of the {len(skipped)} sampled dev holdout photos can be read, e.g. {skipped[0]}")
    # The enlarged photo: the first sampled photo with the most labelled faces (a crowd).
    crowd_bytes = photos[max(range(len(chosen)), key=lambda i: len(chosen[i].boxes))]
    groups = {"dev_holdout": photos}
    for side in big_sides:
        groups[f"{side}px"] = [enlarged(crowd_bytes, side)]
    time_photo(photos[0], detector, classifier)  # warm-up: first calls allocate
    doc = {"detector": detector.name, "machine": machine_description(), "repeats": repeats, "groups": {}}
    if note:
        doc["note"] = note
    if skipped:
        doc["skipped"] = skipped
    for name, items in groups.items():
        runs = []
        for data in items:
            for _ in range(repeats):
                runs.append(time_photo(data, detector, classifier))
            if progress:
                print(f"  {name}: {len(runs)} runs", file=sys.stderr, flush=True, end="\r")
        doc["groups"][name] = {"photos": len(items), "median_s": _medians(runs),
                               "size": runs[-1]["size"], "faces_median": statistics.median(r["faces"] for r in runs)}
    if progress:
        print(" " * 40, file=sys.stderr, end="\r")
    return doc


def format_bench(doc: dict) -> str:
    lines = [f"photos, {doc['detector']}, median seconds per photo ({doc['machine']})",
             f"{'photos':<14}{'size':>11}{'faces':>7}" + "".join(f"{k:>10}" for k in (*STAGES, "total"))]
    for name, g in doc["groups"].items():
        size = "×".join(str(v) for v in g["size"])
        lines.append(f"{name:<14}{size:>11}{g['faces_median']:>7g}"
                     + "".join(f"{g['median_s'][k]:>10.3f}" for k in (*STAGES, "total")))
    if doc.get("note"):
        lines.append(doc["note"])
    return "\n".join(lines)


def run_bench_photos(a) -> int:
    doc = bench_photos(a.detector, a.model, a.scenes, a.sample, a.repeats, progress=not a.json)
    print(json.dumps(doc) if a.json else format_bench(doc))
    return 0
