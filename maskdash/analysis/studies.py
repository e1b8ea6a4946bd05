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
- **below_nose** — masks worn below the nose: real ones (dev scenes and extra faces, holdout
  folds) and masks drawn below the nose of unmasked Test faces (`analysis.below_nose`); the share
  called mask_incorrect, with_mask (the harmful error) and without_mask.
- **hands** — real hands and objects over the mouth (extra faces, holdout) beside the drawn hand.
- **dim_webcam** — Test faces through the fixed dim-webcam rendering (`data.camera.probe_view`) at
  each darkness level, and real dim-webcam faces.

The last three read a binary model and a three-class one alike (`analysis.calls`).

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
from maskdash.labels import CLASSES, INCORRECT, WITH_MASK, WITHOUT_MASK, labels_for

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
    out: Path | None = None  # the results folder (a study may read what an earlier run left there)
    done: dict = field(default_factory=dict)  # name → StudyResult of the studies already run

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
    files: tuple[str, ...] = ()  # the tables it writes (a run that adds studies replaces only these)


REGISTRY: dict[str, Study] = {}


def study(name: str, title: str, needs_faces: bool = True, files: tuple[str, ...] = ()):
    """Register a study function under `name`; the order of registration is the order of a run.
    `files`: the tables it writes."""
    def register(fn: Callable[[Context], StudyResult]):
        REGISTRY[name] = Study(name, title, fn, needs_faces, tuple(files))
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


@study("angles", "Angled faces", files=("angles_faces.csv", "angles_bins.csv"))
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


@study("occluders", "Occluding objects", files=("occluders.csv", "occluders_summary.csv"))
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


# ---------------------------------------------------------------- three classes: below the nose, real hands, dim webcam
# These read a binary model and a three-class one alike (analysis.calls): a binary model's share
# "called mask_incorrect" is None, the class it cannot name.

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
    "hand_or_object": ("hand or object over the mouth (real photos)", ("hand_over_mouth", "object_over_mouth")),
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
            if set(tags) & set(f.tags):
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


STUDIES: tuple[str, ...] = tuple(REGISTRY)  # in run order; cli.STUDY_NAMES must equal it
STUDY_TITLES = {name: s.title for name, s in REGISTRY.items()}
