"""Failure analysis: the original app's reported failures, measured on real faces.

`python -m maskdash analyze` runs these studies for each model (seed and robust side by side) and
writes tables, a summary and a few small example thumbnails to `models/analysis/<name>/`:

- **angles** — each face's yaw is estimated from BlazeFace's six landmarks (see `estimate_yaw`) on
  Face Mask 12K Test crops and on real dev-scene faces; accuracy and mean p(with_mask) per yaw bin.
  The data set's unmasked faces are frontal CelebA portraits while masked photos come at all
  angles, so "turned away" may have been learnt as "mask".
- **occluders** — a hand, a phone, a cup or a scarf (drawn by `maskdash.analysis.occluders`) over mouth and
  nose of unmasked Test faces: the share now called "with mask".
- **distance** — each face shrunk to 16…224 px wide and enlarged back (a distant face is a small
  one), plus the data set's native image widths per class: unmasked crops are small, so
  "blurry" can stand in for "no mask".
- **lighting** — brightness ×0.2…×2.0 and contrast ×0.25…×2.
- **native_size** — the width histogram per split and class, and (from the model's committed
  predictions) Test accuracy by native width.

The gallery of mistakes and Grad-CAM are computed on demand by the dashboard; the helpers it
needs (`mistakes`, `gallery_face`) live here too. Everything is subsampled with a fixed seed so a
run takes minutes on a laptop CPU; the sizes are recorded in summary.json."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from maskdash import settings
from maskdash.labels import CLASSES, INCORRECT
from maskdash.imaging import shrink
from maskdash.inference.tracking import iou as box_iou

STUDIES: tuple[str, ...] = ("angles", "occluders", "distance", "lighting", "native_size")
STUDY_TITLES = {
    "angles": "Angled faces",
    "occluders": "Occluding objects",
    "distance": "Distance (face size)",
    "lighting": "Lighting",
    "native_size": "Native image size",
}
DEFAULT_LIMIT = 300  # faces per study (Test: half per class; dev scenes: this many faces)
DEFAULT_SWEEP_LIMIT = 160  # faces per condition in the distance and lighting sweeps
DEFAULT_SEED = 0
DEFAULT_DETECTOR = "blazeface"  # the original app's detector; its 6 landmarks include the ears
DEV_MIN_HEIGHT = 24  # px: below this BlazeFace rarely finds a face and landmarks are guesswork

YAW_EDGES = (0, 15, 30, 45, 90)  # |yaw| bins in degrees
DISTANCE_WIDTHS = (16, 24, 32, 48, 64, 96, 128, 160, 224)
BRIGHTNESS = (0.2, 0.35, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0)
CONTRAST = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SIZE_EDGES = (0, 32, 48, 64, 96, 128, 160, 192, 224, 256, 384)
CANVAS_SCALE = 2.0  # a tight crop is pasted on a canvas twice its size: BlazeFace wants context
THUMB_PX = 96
N_TURNED_EXAMPLES = 3  # per source (Test, dev scenes)
# what a run writes besides summary.json and examples/*.jpg (the dashboard reads these)
RESULT_FILES = ("angles_faces.csv", "angles_bins.csv", "occluders.csv", "occluders_summary.csv", "distance.csv",
                "lighting.csv", "native_sizes.csv", "native_accuracy.csv", "examples.csv")

# ---------------------------------------------------------------- yaw from landmarks

# Weak-perspective head model. Seen from the front, a yaw θ moves the nose tip sideways by
# depth·sin θ while the width between the eyes (or ears) shrinks as cos θ, so
#     (nose − eye midpoint) / eye distance ≈ K_EYES · tan θ
#     (nose − ear midpoint) / (ear distance / 2) ≈ K_EARS · tan θ
# K_EYES = 0.4: the nose tip stands ~2.5 cm in front of the eyes, which are ~6.3 cm apart (adult
# averages). BlazeFace's "ear" points sit on the face outline, not on the tragion, so K_EARS is
# set to 1.0, which makes the two estimates agree: the median ratio was 0.97 on dev-scene faces
# and 1.00 on Face Mask 12K Test faces (|yaw| > 10°). The two correlate at r ≈ 0.998 (BlazeFace
# regresses all points together), so their mean mainly smooths rounding noise.
# Both are measured along the eye line, so a tilted head (roll) does not read as yaw.
K_EYES = 0.4
K_EARS = 1.0
YAW_METHOD = (
    "Yaw from BlazeFace's 6 landmarks under a weak-perspective head model, measured along the eye "
    "line (roll-invariant): eyes θ = atan((nose − eye midpoint) / eye distance / 0.4); ears "
    "θ = atan((nose − ear midpoint) / half ear distance / 1.0); yaw = mean of the two. Positive = "
    "nose towards the image's right. A coarse estimate (±10° on a frontal face); bins, not degrees, "
    "carry the result."
)


@dataclass(frozen=True)
class YawEstimate:
    yaw: float  # degrees, positive = nose towards the image's right
    yaw_eyes: float
    yaw_ears: float | None  # None when the detector gives no ear points
    roll: float  # degrees of the eye line against the horizontal


def estimate_yaw(landmarks: np.ndarray) -> YawEstimate:
    """Yaw of a face from detector landmarks in image pixels: BlazeFace's 6 (right eye, left
    eye, nose tip, mouth, right ear, left ear) or any K ≥ 3 with eyes and nose first."""
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2 or len(lm) < 3:
        raise ValueError(f"need K×2 landmarks with eyes and nose first, got shape {lm.shape}")
    right_eye, left_eye, nose = lm[0], lm[1], lm[2]
    d = left_eye - right_eye
    dist = float(np.hypot(*d))
    if dist < 1e-6:
        raise ValueError("the two eye landmarks coincide")
    u = d / dist
    if u[0] < 0:  # keep the axis pointing to the image's right even for odd detections
        u = -u
    roll = math.degrees(math.atan2(u[1], u[0]))

    def along(p):
        return float(np.dot(p, u))

    r_eyes = (along(nose) - (along(right_eye) + along(left_eye)) / 2) / dist
    yaw_eyes = math.degrees(math.atan(r_eyes / K_EYES))
    yaw_ears = None
    if len(lm) >= 6:
        half = abs(along(lm[5]) - along(lm[4])) / 2
        if half > 1e-6:
            r_ears = (along(nose) - (along(lm[4]) + along(lm[5])) / 2) / half
            yaw_ears = math.degrees(math.atan(r_ears / K_EARS))
    yaw = yaw_eyes if yaw_ears is None else (yaw_eyes + yaw_ears) / 2
    return YawEstimate(yaw, yaw_eyes, yaw_ears, roll)


def yaw_bin(yaw: float) -> str:
    """|yaw| → "0–15°", "15–30°", "30–45°", "45°+"."""
    a = abs(yaw)
    for lo, hi in zip(YAW_EDGES[:-2], YAW_EDGES[1:-1]):
        if a < hi:
            return f"{lo}–{hi}°"
    return f"{YAW_EDGES[-2]}°+"


YAW_BINS = tuple(yaw_bin(lo + 0.5) for lo in YAW_EDGES[:-1])


# ---------------------------------------------------------------- detection helpers


def detect_on_canvas(detector, face_rgb: np.ndarray, scale: float = CANVAS_SCALE):
    """Detect in a tight face crop pasted on a mid-grey canvas `scale` times its size (a crop
    that fills the frame is too close for BlazeFace). → the best Detection with box and landmarks
    in the crop's pixels, or None."""
    from maskdash.inference.detection import Detection

    h, w = face_rgb.shape[:2]
    cw, ch = int(round(w * scale)), int(round(h * scale))
    ox, oy = (cw - w) // 2, (ch - h) // 2
    canvas = np.full((ch, cw, 3), 128, np.uint8)
    canvas[oy:oy + h, ox:ox + w] = face_rgb
    found = detector.detect(canvas)
    if not found:
        return None
    cx, cy = cw / 2, ch / 2  # the face is the one nearest the centre
    best = min(found, key=lambda d: (d.box[0] + d.box[2] - 2 * cx) ** 2 + (d.box[1] + d.box[3] - 2 * cy) ** 2)
    x1, y1, x2, y2 = best.box
    return Detection((x1 - ox, y1 - oy, x2 - ox, y2 - oy), best.score, best.landmarks - np.float32([ox, oy]))


def detect_around_box(detector, scene_rgb: np.ndarray, box, context: float = CANVAS_SCALE, min_iou: float = 0.3):
    """Run the detector on a square crop `context` times the ground-truth box around it (grey
    beyond the photo's edges) and keep the detection that matches the box. → Detection in scene
    pixels, or None when the detector misses this face."""
    from maskdash.inference.detection import Detection

    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx, sy = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = max(int(round(side)), 2)
    h, w = scene_rgb.shape[:2]
    crop = np.full((n, n, 3), 128, np.uint8)
    ax1, ay1, ax2, ay2 = max(sx, 0), max(sy, 0), min(sx + n, w), min(sy + n, h)
    if ax2 > ax1 and ay2 > ay1:
        crop[ay1 - sy:ay2 - sy, ax1 - sx:ax2 - sx] = scene_rgb[ay1:ay2, ax1:ax2]
    best, best_iou = None, min_iou
    for d in detector.detect(crop):
        b = (d.box[0] + sx, d.box[1] + sy, d.box[2] + sx, d.box[3] + sy)
        iou = box_iou(b, box)
        if iou >= best_iou:
            best, best_iou = Detection(b, d.score, d.landmarks + np.float32([sx, sy])), iou
    return best


# ---------------------------------------------------------------- image conditions


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Stretch (factor > 1) or flatten (< 1) the intensities around the image's mean."""
    x = img.astype(np.float32)
    mean = x.mean()
    return np.clip((x - mean) * factor + mean, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- small tables


def group_table(df: pd.DataFrame, by: list[str], threshold: float = 0.5) -> pd.DataFrame:
    """n, accuracy (binary truths only), share called with_mask and mean p_mask per group.
    `df` needs columns truth and p_mask."""
    rows = []
    for key, g in df.groupby(by, sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        p = g["p_mask"].to_numpy(float)
        called = p >= threshold
        binary = g["truth"].isin(CLASSES).to_numpy()
        correct = called[binary] == (g["truth"].to_numpy()[binary] == CLASSES[0])
        rows.append({
            **dict(zip(by, key)), "n": int(len(g)),
            "accuracy": float(correct.mean()) if binary.any() else None,
            "called_with_mask": float(called.mean()) if len(g) else None,
            "mean_p_mask": float(p.mean()) if len(g) else None,
        })
    return pd.DataFrame(rows, columns=[*by, "n", "accuracy", "called_with_mask", "mean_p_mask"])


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


# ---------------------------------------------------------------- finding models and data


@dataclass(frozen=True)
class ModelRef:
    name: str  # the results folder name: the recipe, or the model's folder name
    path: Path  # .keras or .tflite
    folder: Path  # where its predictions_*.csv would be


def resolve_model(recipe_or_model: str | Path) -> ModelRef:
    """"robust" / "seed" → models/<recipe>/model.keras (or .tflite); a folder → its model.keras
    (or model.tflite, best.keras); a file → itself."""
    from maskdash.evaluation import shipped

    text = str(recipe_or_model)
    p = Path(text).expanduser()
    if not p.exists() and "/" not in text and not p.suffix:
        p = shipped.recipe_dir(text)
        if not p.is_dir():
            raise FileNotFoundError(
                f"no model for recipe {text!r}: {p} does not exist (train it, then "
                f"`python -m maskdash report --run <run folder> --out {p}`)"
            )
    if p.is_dir():
        for candidate in ("model.keras", "model.tflite", "best.keras"):
            if (p / candidate).is_file():
                return ModelRef(p.name, p / candidate, p)
        raise FileNotFoundError(f"no model.keras, model.tflite or best.keras in {p}")
    if p.is_file():
        if p.suffix not in (".keras", ".tflite"):
            raise FileNotFoundError(f"not a model file (.keras or .tflite): {p}")
        return ModelRef(p.parent.name, p, p.parent)
    raise FileNotFoundError(f"model not found: {p}")


def resolve_data(data_dir: str | Path | None) -> tuple[Path, Path | None]:
    """(Face Mask 12K folder, dev-scenes folder or None) from a data root holding both, or from
    the Face Mask 12K folder itself (the scenes are then looked for beside it)."""
    root = Path(data_dir).expanduser() if data_dir else settings.data_dir()
    if (root / "facemask12k").is_dir():
        fm, scenes = root / "facemask12k", root / "face-mask-detection-dev"
    else:
        fm, scenes = root, root.parent / "face-mask-detection-dev"
    if not any((fm / s).is_dir() for s in ("Test", "test")):
        raise FileNotFoundError(
            f"no Face Mask 12K Test split in {fm}: pass --data (or set MASKDASH_DATA) to a folder "
            "holding facemask12k/ and face-mask-detection-dev/"
        )
    if not (scenes / "annotations").is_dir():
        scenes = settings.dev_scenes_dir() if (settings.dev_scenes_dir() / "annotations").is_dir() else None
    return fm, scenes


def analysis_root() -> Path:
    """Where results live: `<reports root>/analysis` (MASKDASH_REPORTS moves the reports root)."""
    from maskdash.evaluation import shipped

    return shipped.reports_root() / "analysis"


def load_classifier(ref: ModelRef, engine: str = "tflite"):
    """The model through the one runtime. engine "tflite" runs it on LiteRT (a .keras model is
    converted to float32 once, same outputs to ~1e-6, ≈2–4× faster on CPU); "keras" runs Keras."""
    from maskdash.model.runtime import load_classifier as open_model

    if engine not in ("tflite", "keras"):
        raise ValueError(f"engine must be 'tflite' or 'keras', got {engine!r}")
    return open_model(ref.path, engine="litert" if engine == "tflite" else "keras")


# ---------------------------------------------------------------- the studies


@dataclass
class TestFaces:
    paths: list[str]  # relative to the Face Mask 12K folder
    truth: list[str]
    native: list[np.ndarray]  # decoded files, native size
    inputs: np.ndarray  # N×224×224×3 classifier inputs


def sample_test_faces(fm_dir: Path, per_class: int, seed: int, progress: bool = False) -> TestFaces:
    """`per_class` Test faces of each class, drawn with a fixed seed (sorted for stable order)."""
    from maskdash.data.datasets import list_split
    from maskdash.imaging import ImageError, load_rgb, to_input

    split = "Test" if (fm_dir / "Test").is_dir() else "test"
    samples = list_split(fm_dir, split)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(len(CLASSES)):
        pool = [s for s in samples if s.label == label]
        k = min(per_class, len(pool))
        chosen += [pool[i] for i in sorted(rng.choice(len(pool), k, replace=False))]
    paths, truth, native, inputs = [], [], [], []
    for s in _progress(chosen, progress, "loading Test faces"):
        try:
            rgb = load_rgb(s.path)
        except ImageError:
            continue
        paths.append(s.path.relative_to(fm_dir).as_posix())
        truth.append(CLASSES[s.label])
        native.append(rgb)
        inputs.append(to_input(rgb))
    arr = np.stack(inputs) if inputs else np.zeros((0, 224, 224, 3), np.uint8)
    return TestFaces(paths, truth, native, arr)


def _progress(it, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(it, desc=desc, disable=not enabled, unit="face", leave=False)


def _yaw_row(det) -> dict:
    if det is None:
        return {"detected": False, "det_score": None, "yaw": None, "yaw_eyes": None, "yaw_ears": None, "roll": None}
    y = estimate_yaw(det.landmarks)
    return {"detected": True, "det_score": round(det.score, 4), "yaw": round(y.yaw, 2),
            "yaw_eyes": round(y.yaw_eyes, 2), "yaw_ears": None if y.yaw_ears is None else round(y.yaw_ears, 2),
            "roll": round(y.roll, 2)}


def angles_on_test(faces: TestFaces, p: np.ndarray, detector, progress: bool) -> tuple[pd.DataFrame, list]:
    rows, landmarks = [], []
    for i in _progress(range(len(faces.paths)), progress, "landmarks (Test)"):
        det = detect_on_canvas(detector, faces.inputs[i])
        landmarks.append(None if det is None else det.landmarks)
        rows.append({"source": "test", "path": faces.paths[i], "face": 0, "truth": faces.truth[i],
                     "height": int(faces.native[i].shape[0]), **_yaw_row(det), "p_mask": float(p[i])})
    return pd.DataFrame(rows), landmarks


def sample_dev_faces(scenes_dir: Path, n: int, seed: int, min_height: float = DEV_MIN_HEIGHT):
    """Up to `n` holdout-fold dev-scene faces at least `min_height` px tall → [(scene, index, box)]."""
    from maskdash.data.datasets import list_scenes, scene_fold

    scenes, _ = list_scenes(scenes_dir)
    pool = [(sc, k, b) for sc in scenes if scene_fold(sc.image_path) == "holdout"
            for k, b in enumerate(sc.boxes) if b.height >= min_height]
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(len(pool), min(n, len(pool)), replace=False)) if pool else []
    return [pool[i] for i in idx], len(pool)


def angles_on_dev(picked, classifier, detector, progress: bool) -> tuple[pd.DataFrame, np.ndarray, list]:
    """Yaw from the detector around each ground-truth box; p_mask from the pipeline's crop."""
    from maskdash.labels import CROP_MARGIN
    from maskdash.imaging import ImageError, crop_face, load_rgb, square_box

    rows, crops, lms = [], [], []
    cache: dict[Path, np.ndarray | None] = {}
    for scene, k, b in _progress(picked, progress, "landmarks (dev scenes)"):
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
        crop = crop_face(rgb, box, CROP_MARGIN)
        lm = None
        if det is not None:  # landmarks in the classifier crop's pixels, for the thumbnails
            sx1, sy1, sx2, sy2 = square_box(box, rgb.shape[1], rgb.shape[0], CROP_MARGIN)
            lm = (det.landmarks - np.float32([sx1, sy1])) * np.float32([224 / (sx2 - sx1), 224 / (sy2 - sy1)])
        crops.append(crop)
        lms.append(lm)
        rows.append({"source": "dev_scenes", "path": scene.image_path.name, "face": k, "truth": b.label,
                     "height": int(round(b.height)), **_yaw_row(det)})
    arr = np.stack(crops) if crops else np.zeros((0, 224, 224, 3), np.uint8)
    p = classifier.predict_batched(arr) if len(arr) else np.zeros((0,), np.float32)
    df = pd.DataFrame(rows)
    if len(df):
        df["p_mask"] = p.astype(float)
    return df, arr, lms


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


def occluder_study(faces: TestFaces, landmarks: list, classifier, seed: int, progress: bool) -> pd.DataFrame:
    """Every unmasked face of the sample × every object."""
    from maskdash.analysis.occluders import OCCLUDERS, FaceGeometry, occlude

    idx = [i for i, t in enumerate(faces.truth) if t == CLASSES[1]]
    rows, batch = [], []
    for i in _progress(idx, progress, "drawing occluders"):
        geo = FaceGeometry.from_landmarks(landmarks[i]) if landmarks[i] is not None else None
        for j, kind in enumerate(OCCLUDERS):
            img = occlude(faces.inputs[i], kind, geo, rng=np.random.default_rng([seed, i, j])).image
            batch.append(img)
            rows.append({"path": faces.paths[i], "object": kind,
                         "placement": "landmarks" if geo is not None else "typical", "index": i})
    p = classifier.predict_batched(np.stack(batch)) if batch else np.zeros((0,), np.float32)
    df = pd.DataFrame(rows, columns=["path", "object", "placement", "index"])
    df["truth"] = CLASSES[1]
    df["p_mask"] = p.astype(float)
    return df


def distance_study(faces: TestFaces, sel: list[int], classifier, progress: bool) -> pd.DataFrame:
    rows = []
    for w in _progress(DISTANCE_WIDTHS, progress, "distance sweep"):
        imgs = np.stack([shrink(faces.native[i], w) for i in sel])
        p = classifier.predict_batched(imgs)
        for i, q in zip(sel, p):
            rows.append({"width": w, "path": faces.paths[i], "truth": faces.truth[i], "p_mask": float(q),
                         "native_width": int(faces.native[i].shape[1])})
    return pd.DataFrame(rows)


def lighting_study(faces: TestFaces, sel: list[int], classifier, progress: bool) -> pd.DataFrame:
    from maskdash.data.augment import brightness

    rows = []
    conditions = [("brightness", f) for f in BRIGHTNESS] + [("contrast", f) for f in CONTRAST if f != 1.0]
    for kind, f in _progress(conditions, progress, "lighting sweep"):
        op = brightness if kind == "brightness" else contrast
        p = classifier.predict_batched(np.stack([op(faces.inputs[i], f) for i in sel]))
        for i, q in zip(sel, p):
            rows.append({"kind": kind, "factor": f, "path": faces.paths[i], "truth": faces.truth[i], "p_mask": float(q)})
    df = pd.DataFrame(rows)
    if len(df):  # contrast ×1 is the unchanged face, the same as brightness ×1
        same = df[(df["kind"] == "brightness") & (df["factor"] == 1.0)].assign(kind="contrast")
        df = pd.concat([df, same], ignore_index=True)
    return df


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


# ---------------------------------------------------------------- thumbnails


def save_thumb(face_rgb: np.ndarray, path: Path, landmarks: np.ndarray | None = None) -> None:
    """A THUMB_PX JPEG of a 224 face, landmarks drawn as dots (an analysis output, kept small)."""
    import cv2

    s = THUMB_PX / face_rgb.shape[1]
    img = cv2.resize(face_rgb, (THUMB_PX, THUMB_PX), interpolation=cv2.INTER_AREA)
    if landmarks is not None:
        colours = [(0, 255, 255), (0, 255, 255), (255, 64, 64), (255, 160, 0), (64, 255, 64), (64, 255, 64)]
        for k, (x, y) in enumerate(np.asarray(landmarks)[:6]):
            cv2.circle(img, (int(round(x * s)), int(round(y * s))), 2, colours[k % 6], -1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


# ---------------------------------------------------------------- the run


def run_analysis(
    recipe_or_model_dir: str | Path,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    studies: tuple[str, ...] | list[str] = STUDIES,
    progress: bool = True,
    limit: int = DEFAULT_LIMIT,
    sweep_limit: int = DEFAULT_SWEEP_LIMIT,
    seed: int = DEFAULT_SEED,
    detector: str = DEFAULT_DETECTOR,
    engine: str = "tflite",
    threshold: float = 0.5,
) -> dict:
    """Run `studies` for one model and write the results to `out_dir` (default
    `models/analysis/<name>`). Returns summary.json's content."""
    unknown = [s for s in studies if s not in STUDIES]
    if unknown:
        raise ValueError(f"unknown studies: {', '.join(unknown)}; choose from {', '.join(STUDIES)}")
    if limit < 2 or sweep_limit < 2:
        raise ValueError("limit and sweep_limit must be at least 2 (one face per class)")
    from maskdash.inference.detection import DETECTORS

    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    t0 = time.perf_counter()
    ref = resolve_model(recipe_or_model_dir)
    fm_dir, scenes_dir = resolve_data(data_dir)
    out = Path(out_dir) if out_dir else analysis_root() / ref.name
    out.mkdir(parents=True, exist_ok=True)
    # a run replaces the folder's earlier results: a table left from another run (other studies,
    # another model) would be shown beside this one's as if they belonged together
    examples_dir = out / "examples"
    stale = [out / f for f in (*RESULT_FILES, "summary.json")]
    stale += list(examples_dir.glob("*.jpg")) if examples_dir.is_dir() else []
    for old in stale:
        old.unlink(missing_ok=True)
    log = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)

    log(f"[{ref.name}] loading {ref.path}")
    clf = load_classifier(ref, engine)
    summary: dict = {
        "name": ref.name, "model": str(ref.path), "engine": clf.kind, "threshold": threshold,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {"facemask12k": str(fm_dir), "dev_scenes": str(scenes_dir) if scenes_dir else None},
        "seed": seed, "studies": {}, "files": [],
    }
    files: list[str] = []
    examples: list[dict] = []

    def write(df: pd.DataFrame, name: str) -> None:
        df.to_csv(out / name, index=False, float_format="%.6g")
        files.append(name)

    need_faces = any(s in studies for s in ("angles", "occluders", "distance", "lighting"))
    faces = sample_test_faces(fm_dir, limit // 2, seed, progress) if need_faces else None
    sel: list[int] = []
    if faces is not None:
        # the sweeps use the first sweep_limit/2 faces of each class of the same sample
        for cls in CLASSES:
            sel += [i for i, t in enumerate(faces.truth) if t == cls][: sweep_limit // 2]
        summary["subsample"] = {
            "test_faces": len(faces.paths),
            "per_class": {c: faces.truth.count(c) for c in CLASSES},
            "sweep_faces": len(sel),
            "note": (f"Test faces drawn at random with seed {seed}: {limit // 2} per class for the angle and "
                     f"occluder studies, the first {sweep_limit // 2} per class of those for the distance and "
                     "lighting sweeps. The same faces for every model."),
        }
    p_test = clf.predict_batched(faces.inputs) if faces is not None and len(faces.paths) else np.zeros((0,))
    landmarks: list = [None] * (len(faces.paths) if faces is not None else 0)

    if "angles" in studies or "occluders" in studies:
        from maskdash.inference.detection import make_detector

        det = make_detector(detector)
        log(f"[{ref.name}] angles: landmarks with {detector}")
        test_df, landmarks = angles_on_test(faces, p_test, det, progress)
        if "angles" in studies:
            parts = [test_df]
            dev_info: dict = {"available": scenes_dir is not None}
            dev_crops, dev_lms = np.zeros((0, 224, 224, 3), np.uint8), []
            if scenes_dir is not None:
                picked, pool = sample_dev_faces(scenes_dir, limit, seed)
                dev_df, dev_crops, dev_lms = angles_on_dev(picked, clf, det, progress)
                parts.append(dev_df)
                dev_info.update({"faces": len(dev_df), "pool": pool, "min_height": DEV_MIN_HEIGHT,
                                 "note": f"holdout-fold faces at least {DEV_MIN_HEIGHT} px tall, {limit} drawn with "
                                         f"seed {seed}; yaw from the detector run around each ground-truth box, "
                                         "p_mask from the pipeline's crop of that box"})
            faces_df = pd.concat(parts, ignore_index=True)
            faces_df["label"] = np.where(faces_df["p_mask"] >= threshold, CLASSES[0], CLASSES[1])
            write(faces_df, "angles_faces.csv")
            bins = yaw_tables(faces_df)
            write(bins, "angles_bins.csv")
            block: dict = {"detector": detector, "method": YAW_METHOD, "dev_scenes": dev_info, "sources": {}}
            for source, g in faces_df.groupby("source"):
                block["sources"][source] = {
                    "faces": int(len(g)),
                    "detected": float(g["detected"].mean()),
                    "detected_by_truth": {t: float(x["detected"].mean()) for t, x in g.groupby("truth")},
                    "median_abs_yaw_by_truth": {t: (float(x["yaw"].abs().median()) if x["detected"].any() else None)
                                                for t, x in g.groupby("truth")},
                    "bins": _records(bins[bins["source"] == source].drop(columns="source")),
                }
            # the most turned faces of each source, with their predictions
            for source, g in faces_df[faces_df["detected"]].groupby("source"):
                top = g.reindex(g["yaw"].abs().sort_values(ascending=False).index).head(N_TURNED_EXAMPLES)
                for rank, (ix, r) in enumerate(top.iterrows()):
                    if source == "test":
                        i = faces.paths.index(r["path"])
                        img, lm = faces.inputs[i], landmarks[i]
                    else:
                        j = ix - len(test_df)
                        img, lm = dev_crops[j], dev_lms[j]
                    name = f"examples/turned_{source}_{rank + 1}.jpg"
                    save_thumb(img, out / name, lm)
                    examples.append({"file": name, "study": "angles", "source": source, "path": r["path"],
                                     "face": int(r["face"]), "truth": r["truth"], "p_mask": round(float(r["p_mask"]), 4),
                                     "detail": f"yaw {r['yaw']:+.0f}°"})
            summary["studies"]["angles"] = block

    if "occluders" in studies:
        from maskdash.analysis.occluders import OCCLUDER_TITLES, OCCLUDERS, FaceGeometry, occlude

        log(f"[{ref.name}] occluders")
        occ = occluder_study(faces, landmarks, clf, seed, progress)
        occ["label"] = np.where(occ["p_mask"] >= threshold, CLASSES[0], CLASSES[1])
        write(occ.drop(columns="index"), "occluders.csv")
        unmasked = [i for i, t in enumerate(faces.truth) if t == CLASSES[1]]
        base = pd.DataFrame({"object": "none", "truth": CLASSES[1], "p_mask": p_test[unmasked].astype(float)})
        table = group_table(pd.concat([base, occ[["object", "truth", "p_mask"]]], ignore_index=True), ["object"])
        write(table, "occluders_summary.csv")
        summary["studies"]["occluders"] = {
            "faces": len(unmasked), "placed_from_landmarks": float((occ["placement"] == "landmarks").mean()) if len(occ) else None,
            "objects": {r["object"]: {"n": r["n"], "called_with_mask": r["called_with_mask"], "mean_p_mask": r["mean_p_mask"]}
                        for r in _records(table)},
            "titles": OCCLUDER_TITLES,
            "note": "Unmasked Test faces (truth: without_mask) with a procedurally drawn object over mouth and nose; "
                    "'none' is the same faces untouched. A scarf over mouth and nose is the ambiguous case: many "
                    "rules accept it as a face covering.",
        }
        for j, kind in enumerate(OCCLUDERS):  # the face this object fooled most
            g = occ[occ["object"] == kind]
            if not len(g):
                continue
            r = g.loc[g["p_mask"].idxmax()]
            i = int(r["index"])
            geo = FaceGeometry.from_landmarks(landmarks[i]) if landmarks[i] is not None else None
            img = occlude(faces.inputs[i], kind, geo, rng=np.random.default_rng([seed, i, j])).image
            name = f"examples/occluder_{kind}.jpg"
            save_thumb(img, out / name)
            examples.append({"file": name, "study": "occluders", "source": "test", "path": r["path"], "face": 0,
                             "truth": CLASSES[1], "p_mask": round(float(r["p_mask"]), 4), "detail": kind})

    if "distance" in studies:
        log(f"[{ref.name}] distance sweep over {len(sel)} faces")
        dist = distance_study(faces, sel, clf, progress)
        table = group_table(dist, ["width", "truth"])
        table["natively_narrower"] = [
            float((dist[(dist["width"] == w) & (dist["truth"] == t)]["native_width"] < w).mean())
            for w, t in zip(table["width"], table["truth"])
        ]
        overall = group_table(dist, ["width"]).assign(truth="all", natively_narrower=None)
        table = pd.concat([overall[table.columns], table], ignore_index=True)
        write(table, "distance.csv")
        summary["studies"]["distance"] = {
            "faces": len(sel), "widths": list(DISTANCE_WIDTHS), "table": _records(table),
            "note": "Each face resized to width × width from its native file, then enlarged back to 224. "
                    "Faces natively narrower than a width are enlarged, i.e. unchanged in detail.",
        }

    if "lighting" in studies:
        log(f"[{ref.name}] lighting sweep over {len(sel)} faces")
        light = lighting_study(faces, sel, clf, progress)
        table = group_table(light, ["kind", "factor", "truth"])
        overall = group_table(light, ["kind", "factor"]).assign(truth="all")
        table = pd.concat([overall[table.columns], table], ignore_index=True).sort_values(["kind", "factor", "truth"])
        write(table, "lighting.csv")
        summary["studies"]["lighting"] = {
            "faces": len(sel), "brightness": list(BRIGHTNESS), "contrast": list(CONTRAST), "table": _records(table),
            "note": "Brightness: every pixel × factor (clipped). Contrast: (pixel − image mean) × factor + mean.",
        }

    if "native_size" in studies:
        log(f"[{ref.name}] native sizes")
        sizes = native_sizes(fm_dir)
        write(native_size_tables(sizes), "native_sizes.csv")
        med = {s: {t: float(g["width"].median()) for t, g in d.groupby("truth")} for s, d in sizes.groupby("split")}
        block = {"median_width": med, "files": int(len(sizes))}
        preds_path = ref.folder / "predictions_test.csv"
        if preds_path.is_file():
            preds = pd.read_csv(preds_path)
            if {"truth", "p_mask", "width"} <= set(preds.columns):
                acc = native_accuracy(preds)
                write(acc, "native_accuracy.csv")
                block["test_accuracy_by_width"] = _records(acc)
        summary["studies"]["native_size"] = block

    if examples:
        write(pd.DataFrame(examples), "examples.csv")
    summary["files"] = files + [e["file"] for e in examples]
    summary["runtime_s"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default), encoding="utf-8")
    log(f"[{ref.name}] wrote {out} in {summary['runtime_s']:.0f} s")
    return summary


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------- reading results (the dashboard)


def result_names(root: Path | None = None) -> list[str]:
    """Result folders with a summary.json: robust and seed first, then any others."""
    root = root or analysis_root()
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if (p / "summary.json").is_file()]
    order = {"robust": 0, "seed": 1}
    return sorted(names, key=lambda n: (order.get(n, 2), n))


def load_results(name: str, root: Path | None = None) -> dict:
    """{"summary": dict, "<file stem>": DataFrame, …, "errors": [messages]} for one result folder.
    Missing files are absent; unreadable ones are reported in "errors"."""
    folder = (root or analysis_root()) / name
    out: dict = {"folder": folder, "errors": []}
    try:
        out["summary"] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        out["summary"] = {}
        out["errors"].append(f"summary.json of {name} is unreadable ({exc})")
    for f in RESULT_FILES:
        path = folder / f
        if path.is_file():
            try:
                out[path.stem] = pd.read_csv(path)
            except (OSError, ValueError) as exc:
                out["errors"].append(f"{f} of {name} is unreadable ({exc})")
    return out


# ---------------------------------------------------------------- gallery of mistakes

TAGS = {
    "confident": "confidently wrong (p(with_mask) below 0.1 or above 0.9)",
    "low-res": "small face (file narrower than 64 px, or a scene face under 32 px tall)",
    "turned": "turned head (|yaw| ≥ 30° in the angle study)",
    "duplicate": "has an exact or near duplicate in another split (data audit)",
    "incorrect-mask": "mask worn below the nose (dev scenes' mask_weared_incorrect)",
}


def mistakes(
    preds: pd.DataFrame,
    set_name: str,
    threshold: float = 0.5,
    duplicates: pd.DataFrame | None = None,
    yaw: pd.DataFrame | None = None,
    include_correct: bool = False,
) -> pd.DataFrame:
    """The faces of a predictions CSV the model got wrong at `threshold`, with `confidence`
    (how far p was from the threshold's side, 0…1), `error` and `tags` (see TAGS, comma-joined).
    A face wearing its mask below the nose is a mistake when called with_mask."""
    d = preds.copy()
    p = pd.to_numeric(d["p_mask"], errors="coerce")
    d = d[p.notna()].copy()
    p = p[p.notna()].astype(float)
    d["p_mask"] = p
    d["label"] = np.where(p >= threshold, CLASSES[0], CLASSES[1])
    truth = d["truth"].astype(str)
    wrong = ((truth.isin(CLASSES)) & (truth != d["label"])) | ((truth == INCORRECT) & (d["label"] == CLASSES[0]))
    d["error"] = np.where(~wrong, "correct",
                          np.where(d["label"] == CLASSES[0], "called with_mask", "called without_mask"))
    d["confidence"] = np.where(d["label"] == CLASSES[0], p, 1 - p)
    is_scene = set_name.startswith("dev_scenes")
    dup_paths: set[str] = set()
    if duplicates is not None and len(duplicates) and {"group", "path", "split"} <= set(duplicates.columns):
        cross = duplicates.groupby("group")["split"].transform("nunique") > 1
        dup_paths = set(duplicates.loc[cross, "path"].astype(str))
    turned: set[tuple[str, int]] = set()
    if yaw is not None and len(yaw) and {"path", "yaw", "source"} <= set(yaw.columns):
        src = "dev_scenes" if is_scene else "test"
        t = yaw[(yaw["source"] == src) & (yaw["yaw"].abs() >= 30)]
        turned = {(str(a), int(b)) for a, b in zip(t["path"], t.get("face", pd.Series(0, index=t.index)))}
    tags = []
    for _, r in d.iterrows():
        t = []
        if r["p_mask"] < 0.1 or r["p_mask"] > 0.9:
            t.append("confident")
        size = r.get("height") if is_scene else r.get("width")
        if size is not None and size == size and float(size) < (32 if is_scene else 64):
            t.append("low-res")
        if (str(r["path"]), int(r.get("face", 0) or 0)) in turned:
            t.append("turned")
        if str(r["path"]) in dup_paths:
            t.append("duplicate")
        if r["truth"] == INCORRECT:
            t.append("incorrect-mask")
        tags.append(", ".join(t))
    d["tags"] = tags
    if not include_correct:
        d = d[d["error"] != "correct"]
    return d.sort_values("confidence", ascending=False).reset_index(drop=True)


def gallery_face(row: pd.Series | dict, set_name: str) -> np.ndarray:
    """The classifier's 224 input for one predictions row, read from the data folder: the file
    itself (Face Mask 12K) or the pipeline's crop of the box (dev scenes). Raises ImageError."""
    from maskdash.evaluation import shipped
    from maskdash.labels import CROP_MARGIN
    from maskdash.imaging import crop_face, load_rgb, to_input

    rgb = load_rgb(shipped.image_path(str(row["path"]), set_name))
    if set_name.startswith("dev_scenes"):
        return crop_face(rgb, (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"])), CROP_MARGIN)
    return to_input(rgb)


# ---------------------------------------------------------------- command line


def cmd_analyze(args: argparse.Namespace) -> int:
    studies = tuple(s.strip() for s in args.studies.split(",") if s.strip())
    bad = [s for s in studies if s not in STUDIES]
    if bad:
        print(f"error: unknown studies: {', '.join(bad)}; choose from {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    root = Path(args.out) if args.out else analysis_root()
    done, failed = 0, []
    for m in args.models:
        try:
            ref = resolve_model(m)
        except FileNotFoundError as exc:
            failed.append(str(exc))
            print(f"skipping {m}: {exc}", file=sys.stderr)
            continue
        from maskdash.inference.detection import DetectorUnavailable

        try:
            s = run_analysis(m, args.data, root / ref.name, studies, progress=True, limit=args.limit,
                             sweep_limit=args.sweep_limit, seed=args.seed, detector=args.detector,
                             engine=args.engine)
        except (ValueError, DetectorUnavailable) as exc:  # bad option or missing detector: say which
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(summary_lines(s)))
        done += 1
    if not done:
        print("error: no model could be analysed", file=sys.stderr)
        return 2
    return 0


def headlines(s: dict) -> dict[str, float | None]:
    """The few figures that answer the reported failures, from one summary.json (None where a
    study or bin is missing). Shares and accuracies in 0…1."""
    st = s.get("studies", {})
    out: dict[str, float | None] = {}

    def row(table, **match):
        for r in table or []:
            if all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    occ = (st.get("occluders") or {}).get("objects") or {}
    out["no mask, untouched: called with mask"] = (occ.get("none") or {}).get("called_with_mask")
    for obj in ("hand", "phone", "cup", "scarf"):
        out[f"no mask + {obj}: called with mask"] = (occ.get(obj) or {}).get("called_with_mask")
    src = ((st.get("angles") or {}).get("sources") or {})
    for source, title in (("dev_scenes", "dev scenes"), ("test", "Test")):
        bins = (src.get(source) or {}).get("bins")
        for b in (YAW_BINS[0], YAW_BINS[-1]):
            r = row(bins, yaw_bin=b, truth="all")
            out[f"{title}, |yaw| {b}: accuracy"] = r and r["accuracy"]
    dist = (st.get("distance") or {}).get("table")
    for w in (16, 24, 32, 224):
        r = row(dist, width=w, truth="all")
        out[f"face {w} px wide: accuracy"] = r and r["accuracy"]
    light = (st.get("lighting") or {}).get("table")
    for kind, f in (("brightness", 0.2), ("brightness", 2.0), ("contrast", 0.25)):
        r = row(light, kind=kind, factor=f, truth="all")
        out[f"{kind} ×{f}: accuracy"] = r and r["accuracy"]
    return out


def summary_lines(s: dict) -> list[str]:
    """A few headline figures of one run, for the terminal."""
    lines = [f"== {s['name']} ({s['model']}, {s.get('runtime_s', 0):.0f} s)"]
    st = s.get("studies", {})
    for source, b in (st.get("angles", {}).get("sources") or {}).items():
        cells = [f"{r['yaw_bin']} {100 * r['accuracy']:.0f}% (n={r['n']})" for r in b["bins"]
                 if r["truth"] == "all" and r["accuracy"] is not None]
        lines.append(f"angles/{source}: detected {100 * b['detected']:.0f}%; accuracy by |yaw|: " + ", ".join(cells))
    occ = st.get("occluders", {}).get("objects") or {}
    if occ:
        lines.append("occluders, called with_mask: " + ", ".join(
            f"{k} {100 * v['called_with_mask']:.0f}%" for k, v in occ.items()))
    for r in (st.get("distance", {}).get("table") or []):
        if r["truth"] == "all" and r["width"] in (16, 32, 64, 224):
            lines.append(f"distance {r['width']:>3} px: accuracy {100 * r['accuracy']:.1f}%")
    for r in (st.get("lighting", {}).get("table") or []):
        if r["truth"] == "all" and r["kind"] == "brightness" and r["factor"] in (0.2, 0.5, 1.0, 2.0):
            lines.append(f"brightness ×{r['factor']}: accuracy {100 * r['accuracy']:.1f}%")
    return lines
