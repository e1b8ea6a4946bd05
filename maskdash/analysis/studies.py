"""The failure studies: one registered function per study, each measuring one failure the
original app's users reported, on real faces.

- **angles** — each face's yaw is estimated from BlazeFace's six landmarks (`analysis.yaw`) on
  Face Mask 12K Test crops and on real dev-scene faces; accuracy and mean p(with_mask) per yaw bin.
  The data set's unmasked faces are frontal CelebA portraits while masked photos come at all
  angles, so "turned away" may have been learnt as "mask".
- **occluders** — a hand, a phone, a cup or a scarf (drawn by `analysis.occluders`) over mouth and
  nose of unmasked Test faces: the share now called "with mask".
- **distance** — each face shrunk to 16…224 px wide and enlarged back (a distant face is a small
  one): unmasked crops are small in the data set, so "blurry" can stand in for "no mask".
- **lighting** — brightness ×0.2…×2.0 and contrast ×0.25…×2.
- **native_size** — the width histogram per split and class, and (from the model's committed
  predictions) Test accuracy by native width.

A study is a function of a `Context` (the model, the sampled faces, the options) that returns a
`StudyResult` (tables to write, its summary block, example recipes); `@study` registers it, and
`analysis.run` runs the registered ones in order."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from maskdash import settings
from maskdash.analysis import examples as ex
from maskdash.analysis.sources import DEV_MIN_HEIGHT, ModelRef, TestFaces, progress_bar, sample_dev_faces
from maskdash.analysis.yaw import YAW_BINS, YAW_METHOD, estimate_yaw, yaw_bin
from maskdash.labels import CLASSES, WITH_MASK, WITHOUT_MASK, labels_for

DISTANCE_WIDTHS = (16, 24, 32, 48, 64, 96, 128, 160, 224)
BRIGHTNESS = (0.2, 0.35, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0)
CONTRAST = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SIZE_EDGES = (0, 32, 48, 64, 96, 128, 160, 192, 224, 256, 384)


# ---------------------------------------------------------------- the registry


@dataclass
class Context:
    """What every study may use. The Test faces' landmarks and predictions are computed once,
    on first use, and shared (angles and occluders both need the landmarks)."""

    ref: ModelRef
    classifier: object
    fm_dir: Path
    scenes_dir: Path | None
    faces: TestFaces | None  # None when no registered study in this run needs faces
    sel: list[int]  # the sweeps' faces: indices into `faces`
    detector_name: str
    seed: int
    limit: int
    threshold: float = 0.5
    progress: bool = False
    log: Callable[[str], None] = lambda msg: None

    @cached_property
    def detector(self):
        from maskdash.inference.detection import make_detector

        return make_detector(self.detector_name)

    @cached_property
    def p_test(self) -> np.ndarray:
        if self.faces is None or not len(self.faces.paths):
            return np.zeros((0,), np.float32)
        return self.classifier.predict_batched(self.faces.inputs)

    @cached_property
    def test_landmarks(self) -> tuple[pd.DataFrame, list]:
        """(one angle row per Test face, their landmarks in the 224 input or None)."""
        self.log(f"[{self.ref.name}] landmarks with {self.detector_name}")
        return angles_on_test(self.faces, self.p_test, self.detector, self.progress)


@dataclass
class StudyResult:
    tables: dict[str, pd.DataFrame]  # file name → table, written in this order
    block: dict  # summary.json's studies[<name>]
    examples: list[dict] = field(default_factory=list)  # examples.csv rows (see analysis.examples)


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    run: Callable[[Context], StudyResult]
    needs_faces: bool  # uses the sampled Test faces


REGISTRY: dict[str, Study] = {}


def study(name: str, title: str, needs_faces: bool = True):
    """Register a study function under `name`; the order of registration is the order of a run."""
    def register(fn: Callable[[Context], StudyResult]):
        REGISTRY[name] = Study(name, title, fn, needs_faces)
        return fn
    return register


# ---------------------------------------------------------------- small helpers


def group_table(df: pd.DataFrame, by: list[str], threshold: float = 0.5) -> pd.DataFrame:
    """n, accuracy (binary truths only), share called with_mask and mean p_mask per group.
    `df` needs columns truth and p_mask."""
    rows = []
    for key, g in df.groupby(by, sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        p = g["p_mask"].to_numpy(float)
        called = p >= threshold
        binary = g["truth"].isin(CLASSES).to_numpy()
        correct = called[binary] == (g["truth"].to_numpy()[binary] == WITH_MASK)
        rows.append({
            **dict(zip(by, key)), "n": int(len(g)),
            "accuracy": float(correct.mean()) if binary.any() else None,
            "called_with_mask": float(called.mean()) if len(g) else None,
            "mean_p_mask": float(p.mean()) if len(g) else None,
        })
    return pd.DataFrame(rows, columns=[*by, "n", "accuracy", "called_with_mask", "mean_p_mask"])


def records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Stretch (factor > 1) or flatten (< 1) the intensities around the image's mean."""
    x = img.astype(np.float32)
    mean = x.mean()
    return np.clip((x - mean) * factor + mean, 0, 255).astype(np.uint8)


def _fm12k_image(path: str) -> str:
    """A Face Mask 12K path (relative to its folder) → relative to the data folder."""
    return f"{settings.facemask12k_dir().name}/{path}"


# ---------------------------------------------------------------- angles


def _yaw_row(det) -> dict:
    if det is None:
        return {"detected": False, "det_score": None, "yaw": None, "yaw_eyes": None, "yaw_ears": None, "roll": None}
    y = estimate_yaw(det.landmarks)
    return {"detected": True, "det_score": round(det.det_score, 4), "yaw": round(y.yaw, 2),
            "yaw_eyes": round(y.yaw_eyes, 2), "yaw_ears": None if y.yaw_ears is None else round(y.yaw_ears, 2),
            "roll": round(y.roll, 2)}


def angles_on_test(faces: TestFaces, p: np.ndarray, detector, progress: bool) -> tuple[pd.DataFrame, list]:
    from maskdash.analysis.landmarks import detect_on_canvas

    rows, landmarks = [], []
    for i in progress_bar(range(len(faces.paths)), progress, "landmarks (Test)"):
        det = detect_on_canvas(detector, faces.inputs[i])
        landmarks.append(None if det is None else det.landmarks)
        rows.append({"source": "test", "path": faces.paths[i], "face": 0, "truth": faces.truth[i],
                     "height": int(faces.native[i].shape[0]), **_yaw_row(det), "p_mask": float(p[i])})
    return pd.DataFrame(rows), landmarks


def angles_on_dev(picked, scenes_dir: Path, classifier, detector, progress: bool) -> tuple[pd.DataFrame, list]:
    """Yaw from the detector around each ground-truth box; p_mask from the pipeline's crop.
    → (rows, per row (image relative to the data folder, box, landmarks in the crop or None))."""
    from maskdash.analysis.landmarks import detect_around_box, to_crop_pixels
    from maskdash.imaging import ImageError, crop_face, load_rgb
    from maskdash.labels import CROP_MARGIN

    rows, crops, where = [], [], []
    cache: dict[Path, np.ndarray | None] = {}
    for scene, k, b in progress_bar(picked, progress, "landmarks (dev scenes)"):
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
        crops.append(crop_face(rgb, box, CROP_MARGIN))
        lm = None if det is None else to_crop_pixels(det.landmarks, box, rgb.shape[1], rgb.shape[0])
        image = f"{settings.dev_scenes_dir().name}/{scene.image_path.relative_to(scenes_dir).as_posix()}"
        where.append((image, box, lm))
        rows.append({"source": "dev_scenes", "path": scene.image_path.name, "face": k, "truth": b.label,
                     "height": int(round(b.height)), **_yaw_row(det)})
    arr = np.stack(crops) if crops else np.zeros((0, 224, 224, 3), np.uint8)
    p = classifier.predict_batched(arr) if len(arr) else np.zeros((0,), np.float32)
    df = pd.DataFrame(rows)
    if len(df):
        df["p_mask"] = p.astype(float)
    return df, where


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


@study("angles", "Angled faces")
def angles(ctx: Context) -> StudyResult:
    test_df, landmarks = ctx.test_landmarks
    parts, dev_where = [test_df], []
    dev_info: dict = {"available": ctx.scenes_dir is not None}
    if ctx.scenes_dir is not None:
        picked, pool = sample_dev_faces(ctx.scenes_dir, ctx.limit, ctx.seed)
        dev_df, dev_where = angles_on_dev(picked, ctx.scenes_dir, ctx.classifier, ctx.detector, ctx.progress)
        parts.append(dev_df)
        dev_info.update({"faces": len(dev_df), "pool": pool, "min_height": DEV_MIN_HEIGHT,
                         "note": f"holdout-fold faces at least {DEV_MIN_HEIGHT} px tall, {ctx.limit} drawn with "
                                 f"seed {ctx.seed}; yaw from the detector run around each ground-truth box, "
                                 "p_mask from the pipeline's crop of that box"})
    faces_df = pd.concat(parts, ignore_index=True)
    faces_df["label"] = labels_for(faces_df["p_mask"], ctx.threshold)
    bins = yaw_tables(faces_df)
    block: dict = {"detector": ctx.detector_name, "method": YAW_METHOD, "dev_scenes": dev_info, "sources": {}}
    for source, g in faces_df.groupby("source"):
        block["sources"][source] = {
            "faces": int(len(g)),
            "detected": float(g["detected"].mean()),
            "detected_by_truth": {t: float(x["detected"].mean()) for t, x in g.groupby("truth")},
            "median_abs_yaw_by_truth": {t: (float(x["yaw"].abs().median()) if x["detected"].any() else None)
                                        for t, x in g.groupby("truth")},
            "bins": records(bins[bins["source"] == source].drop(columns="source")),
        }
    shown = []  # the most turned faces of each source, with their predictions
    for source, g in faces_df[faces_df["detected"]].groupby("source"):
        top = g.reindex(g["yaw"].abs().sort_values(ascending=False).index).head(ex.N_TURNED_EXAMPLES)
        for ix, r in top.iterrows():
            if source == "test":
                image, box, lm = _fm12k_image(r["path"]), None, landmarks[ctx.faces.paths.index(r["path"])]
            else:
                image, box, lm = dev_where[ix - len(test_df)]
            shown.append(ex.record("angles", source, r["path"], r["face"], r["truth"], r["p_mask"],
                                   f"yaw {r['yaw']:+.0f}°", image, box, lm))
    return StudyResult({"angles_faces.csv": faces_df, "angles_bins.csv": bins}, block, shown)


# ---------------------------------------------------------------- occluders


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


@study("occluders", "Occluding objects")
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


# ---------------------------------------------------------------- distance and lighting


def distance_study(faces: TestFaces, sel: list[int], classifier, progress: bool) -> pd.DataFrame:
    from maskdash.evaluation.evaluate import sweep
    from maskdash.imaging import shrink

    p = sweep(classifier, [faces.native[i] for i in sel], shrink, DISTANCE_WIDTHS, progress, "distance sweep")
    rows = [{"width": w, "path": faces.paths[i], "truth": faces.truth[i], "p_mask": float(q),
             "native_width": int(faces.native[i].shape[1])}
            for w, ps in zip(DISTANCE_WIDTHS, p) for i, q in zip(sel, ps)]
    return pd.DataFrame(rows)


@study("distance", "Distance (face size)")
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


@study("lighting", "Lighting")
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


# ---------------------------------------------------------------- native size


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


@study("native_size", "Native image size", needs_faces=False)
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


STUDIES: tuple[str, ...] = tuple(REGISTRY)  # in run order; cli.STUDY_NAMES must equal it
STUDY_TITLES = {name: s.title for name, s in REGISTRY.items()}
