"""Training the face head (`maskdash.model.facehead`) on the dev scenes' train fold.

    python -m maskdash train-detector --out runs/facehead

The train fold is split once more by photo (`sub_fold`): 'fit' photos train, 'val' photos choose
the checkpoint (lowest validation loss) and, later, the detector's threshold and the size from
which its faces join YuNet's. The holdout fold is never read here.

Features of the frozen backbone are computed once per photo variant — the photo as it is, mirrored,
and `variants` copies each scaled to 55–90 % of the input, placed anywhere on the canvas and given
another exposure, contrast, blur and JPEG quality — so only the small head trains (CenterNet's
focal loss on a Gaussian heat map of face centres, L1 on log size and offset at each centre).

The run folder (written atomically): args.json, history.csv (epoch, loss, val_loss), head_best.keras
and head_last.keras, and, at the end, model.keras (backbone + best head, raw RGB in) and
model.tflite (float16) for inference."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from maskdash import settings
from maskdash.model import facehead as fh

VAL_SHARE = 0.25
MIN_OVERLAP = 0.7  # CenterNet's Gaussian radius: a box shifted by it keeps IoU ≥ 0.7


@dataclass
class DetectorArgs:
    out: str = "runs/facehead"
    scenes: str = ""  # default: the dev scenes setting
    epochs: int = 24
    lr: float = 2e-3
    batch: int = 16
    dropout: float = 0.1
    variants: int = 2  # augmented copies per fit photo, beside the photo and its mirror image
    # copies enlarged 1.3–2× and cut to the canvas: the dev photos' faces are mostly small, and the
    # shrunk copies make them smaller still, so a large masked profile was rare in training
    zoom: int = 0
    # copies with real faces from the extra faces' train fold pasted in at 32–160 px: the large masked
    # (often turned) faces the dev photos lack; the fit photos' own faces stay in place and labelled
    paste: int = 0
    extra_faces: str = ""  # default: the extra faces setting
    seed: int = 0
    limit: int | None = None  # photos per sub-fold (quick checks)
    base_weights: str = ""  # default: settings.base_weights()


def sub_fold(image_path: Path | str) -> str:
    """'fit' or 'val' within the dev scenes' train fold, by photo name (salted, so that it does
    not follow the train/holdout split's hash)."""
    digest = hashlib.sha256(("facehead:" + Path(image_path).name).encode()).digest()
    return "val" if digest[0] / 256 < VAL_SHARE else "fit"


def split(scenes_dir: Path | str, limit: int | None = None) -> tuple[list, list]:
    """(fit, val) scenes: the dev scenes' train fold only, by `sub_fold`."""
    from maskdash.evaluation.scenes import fold_scenes

    scenes = fold_scenes(scenes_dir, "train")
    return ([s for s in scenes if sub_fold(s.image_path) == "fit"][:limit],
            [s for s in scenes if sub_fold(s.image_path) == "val"][:limit])


def gaussian_radius(h: float, w: float, min_overlap: float = MIN_OVERLAP) -> float:
    """CenterNet's radius (in cells) within which a centre may move and its box keep the overlap."""
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + np.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + np.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return float(max(0.0, min(r1, r2, r3)))


def targets(boxes) -> np.ndarray:
    """Boxes in head pixels → GRID×GRID×6: heat, log w, log h, offset x, offset y, centre mask."""
    g = fh.GRID
    t = np.zeros((g, g, 6), np.float32)
    yy, xx = np.mgrid[0:g, 0:g]
    for x1, y1, x2, y2 in boxes:
        w, h = (x2 - x1) / fh.STRIDE, (y2 - y1) / fh.STRIDE
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x1 + x2) / 2 / fh.STRIDE, (y1 + y2) / 2 / fh.STRIDE
        ix, iy = min(g - 1, max(0, int(cx))), min(g - 1, max(0, int(cy)))
        sigma = (2 * gaussian_radius(h, w) + 1) / 6
        t[..., 0] = np.maximum(t[..., 0], np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma ** 2)))
        t[iy, ix] = [1.0, np.log(w), np.log(h), cx - ix, cy - iy, 1.0]
    return t


def loss(y, p):
    """CenterNet: focal loss on the heat map (α 2, β 4) + L1 on size and offset at centres, both
    per face."""
    import tensorflow as tf

    heat = tf.clip_by_value(tf.sigmoid(p[..., 0]), 1e-4, 1 - 1e-4)
    gt = y[..., 0]
    pos = tf.cast(tf.equal(gt, 1.0), tf.float32)
    n = tf.maximum(tf.reduce_sum(pos), 1.0)
    focal = -tf.reduce_sum(tf.math.log(heat) * (1 - heat) ** 2 * pos
                           + tf.math.log(1 - heat) * heat ** 2 * (1 - gt) ** 4 * (1 - pos))
    box = tf.reduce_sum(tf.abs(p[..., 1:5] - y[..., 1:5]) * y[..., 5:6])
    return (focal + box) / n


def _reexpose(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = (img.astype(np.float32) - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-40, 40)
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.5:
        _, enc = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 70))])
        x = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return x


def zoomed(rgb: np.ndarray, boxes, rng: np.random.Generator, factor: float):
    """The photo enlarged `factor` times its letterboxed size and cut to a random SIDE×SIDE window:
    (canvas, boxes in head pixels) — the faces whose centre is in the window, clipped to it."""
    h, w = rgb.shape[:2]
    s = fh.SIDE * factor / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    big = cv2.resize(np.ascontiguousarray(rgb), (nw, nh), interpolation=cv2.INTER_LINEAR)
    x0, y0 = int(rng.integers(0, max(1, nw - fh.SIDE + 1))), int(rng.integers(0, max(1, nh - fh.SIDE + 1)))
    window = big[y0:y0 + fh.SIDE, x0:x0 + fh.SIDE]
    canvas = np.zeros((fh.SIDE, fh.SIDE, 3), np.uint8)
    canvas[:window.shape[0], :window.shape[1]] = window
    kept = []
    for x1, y1, x2, y2 in boxes:
        bx1, by1, bx2, by2 = x1 * s - x0, y1 * s - y0, x2 * s - x0, y2 * s - y0
        cx, cy = (bx1 + bx2) / 2, (by1 + by2) / 2
        if 0 <= cx < window.shape[1] and 0 <= cy < window.shape[0]:
            kept.append((max(0.0, bx1), max(0.0, by1), min(float(window.shape[1]), bx2), min(float(window.shape[0]), by2)))
    return canvas, kept


PASTE_MARGIN = 1.2  # the extra faces' crops are squares 1.2 × the face box's longer side, centred on it
PASTE_FACE_PX = (32, 160)  # pasted face heights in head pixels (log-uniform)
PASTE_MAX = 3  # faces pasted into one copy, at most


@dataclass(frozen=True)
class Donor:
    """A real face crop to paste: its file, the crop (RGB) and its face box as fractions of the crop."""
    path: Path
    rgb: np.ndarray
    box: tuple[float, float, float, float]


def donors(root: Path | str, folds: tuple[str, ...] = ("train",)) -> list[Donor]:
    """The extra faces of `folds` (train only for training), each with its face box inside the
    crop (the crop is the index's box's longer side × PASTE_MARGIN, centred on it)."""
    from maskdash.data.datasets import list_extra_faces
    from maskdash.imaging import ImageError, load_rgb

    out = []
    for face in list_extra_faces(root, folds):  # names a folder without index.csv
        if face.box_wh is None:
            continue
        try:
            rgb = load_rgb(face.path)
        except ImageError:
            continue
        fw, fh_ = (v / (max(face.box_wh) * PASTE_MARGIN) for v in face.box_wh)
        out.append(Donor(face.path, rgb, (0.5 - fw / 2, 0.5 - fh_ / 2, 0.5 + fw / 2, 0.5 + fh_ / 2)))
    return out


def _alpha(side: int, box) -> np.ndarray:
    """Alpha for a pasted square: an ellipse a little larger than the face box, its edge softened,
    so the crop's corners (another photo's background) fade out and no square edge is left."""
    bx1, by1, bx2, by2 = box
    yy, xx = (np.mgrid[0:side, 0:side] + 0.5) / side
    rx, ry = (bx2 - bx1) / 2 * 1.1, (by2 - by1) / 2 * 1.1
    inside = (((xx - (bx1 + bx2) / 2) / rx) ** 2 + ((yy - (by1 + by2) / 2) / ry) ** 2 <= 1).astype(np.float32)
    return cv2.GaussianBlur(inside, (0, 0), max(0.5, 0.05 * side))[..., None]


def pasted(canvas: np.ndarray, boxes, pool: list[Donor], rng: np.random.Generator, extent: tuple[int, int] | None = None):
    """`canvas` with 1–PASTE_MAX donor faces pasted inside `extent` (the photo's w, h on the canvas)
    where they cover no labelled face (nor one another); (canvas, boxes + the pasted faces' boxes)."""
    out = canvas.astype(np.float32)
    boxes = list(boxes)
    width, height = extent or (canvas.shape[1], canvas.shape[0])
    lo, hi = np.log(PASTE_FACE_PX[0]), np.log(PASTE_FACE_PX[1])
    for _ in range(int(rng.integers(1, PASTE_MAX + 1))):
        d = pool[int(rng.integers(len(pool)))]
        side = int(round(float(np.exp(rng.uniform(lo, hi))) / (d.box[3] - d.box[1])))
        if side < 8 or side > width or side > height:
            continue
        box = paste_one(out, d, side, boxes, rng, (width, height))
        if box is not None:
            boxes.append(box)
    return np.clip(out, 0, 255).astype(np.uint8), boxes


def paste_one(out: np.ndarray, d: Donor, side: int, boxes, rng: np.random.Generator,
              extent: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """Blend donor `d`, as a `side`-px square (mirrored half the time), into `out` (float32, in
    place) at a random spot inside `extent` that covers none of `boxes`; its face box, or None
    when ten tries found no free spot."""
    width, height = extent
    bx1, by1, bx2, by2 = d.box
    crop = cv2.resize(np.ascontiguousarray(d.rgb[:, ::-1] if rng.random() < 0.5 else d.rgb), (side, side),
                      interpolation=cv2.INTER_AREA if side < d.rgb.shape[0] else cv2.INTER_LINEAR)
    for _try in range(10):
        x0, y0 = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        if all(x2 <= x0 or x1 >= x0 + side or y2 <= y0 or y1 >= y0 + side for x1, y1, x2, y2 in boxes):
            break
    else:
        return None
    alpha = _alpha(side, d.box)
    region = out[y0:y0 + side, x0:x0 + side]
    out[y0:y0 + side, x0:x0 + side] = alpha * crop + (1 - alpha) * region
    return (x0 + bx1 * side, y0 + by1 * side, x0 + bx2 * side, y0 + by2 * side)


def photo_variants(rgb: np.ndarray, boxes, variants: int, rng: np.random.Generator | None, zoom: int = 0,
                   paste: int = 0, pool: list[Donor] | None = None):
    """(canvas, boxes in head pixels) for the photo, its mirror image (when `rng` is given),
    `variants` augmented copies, `zoom` enlarged ones and `paste` with faces of `pool` pasted in."""
    h, w = rgb.shape[:2]
    canvas, s = fh.letterbox(rgb)
    yield canvas, [(x1 * s, y1 * s, x2 * s, y2 * s) for x1, y1, x2, y2 in boxes]
    if rng is None:
        return
    mirrored = [(w - x2, y1, w - x1, y2) for x1, y1, x2, y2 in boxes]
    canvas, s = fh.letterbox(rgb[:, ::-1])
    yield canvas, [(x1 * s, y1 * s, x2 * s, y2 * s) for x1, y1, x2, y2 in mirrored]
    for _ in range(variants):
        flip = rng.random() < 0.5
        src, bxs = (rgb[:, ::-1], mirrored) if flip else (rgb, boxes)
        long_side = int(fh.SIDE * rng.uniform(0.55, 0.9))
        s = long_side / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        ox, oy = int(rng.integers(0, fh.SIDE - nw + 1)), int(rng.integers(0, fh.SIDE - nh + 1))
        canvas, s = fh.letterbox(src, long_side, (ox, oy))
        yield _reexpose(canvas, rng), [(x1 * s + ox, y1 * s + oy, x2 * s + ox, y2 * s + oy) for x1, y1, x2, y2 in bxs]
    for _ in range(zoom):
        flip = rng.random() < 0.5
        canvas, bxs = zoomed(rgb[:, ::-1] if flip else rgb, mirrored if flip else boxes, rng, float(rng.uniform(1.3, 2.0)))
        yield _reexpose(canvas, rng), bxs
    for _ in range(paste if pool else 0):
        flip = rng.random() < 0.5
        canvas, s = fh.letterbox(rgb[:, ::-1] if flip else rgb)
        bxs = [(x1 * s, y1 * s, x2 * s, y2 * s) for x1, y1, x2, y2 in (mirrored if flip else boxes)]
        canvas, bxs = pasted(canvas, bxs, pool, rng, (round(w * s), round(h * s)))
        yield _reexpose(canvas, rng), bxs


def features(scenes, backbone, variants: int, rng: np.random.Generator | None, desc: str, zoom: int = 0,
             paste: int = 0, pool: list[Donor] | None = None):
    """Backbone features (float16) and targets of every variant of every photo."""
    from tqdm import tqdm

    from maskdash.imaging import ImageError, load_rgb

    f8, f16, ys, batch, skipped = [], [], [], [], []

    def flush():
        a, b = backbone.predict(np.stack([c for c, _ in batch]), verbose=0, batch_size=8)
        f8.append(a.astype(np.float16))
        f16.append(b.astype(np.float16))
        ys.extend(targets(bx) for _, bx in batch)
        batch.clear()

    for scene in tqdm(scenes, desc=desc, unit="photo"):
        try:
            rgb = load_rgb(scene.image_path)
        except ImageError as exc:
            skipped.append((str(scene.image_path), str(exc)))
            continue
        boxes = [(b.x1, b.y1, b.x2, b.y2) for b in scene.boxes]
        batch.extend(photo_variants(rgb, boxes, variants, rng, zoom, paste, pool))
        if len(batch) >= 16:
            flush()
    if batch:
        flush()
    return np.concatenate(f8), np.concatenate(f16), np.stack(ys), skipped


def batches(x8: np.ndarray, x16: np.ndarray, y: np.ndarray, batch: int, rng: np.random.Generator | None):
    """The cached features as Keras batches, cast to float32 one batch at a time: handing Keras
    the whole float16 arrays made it hold a float32 copy of all of them (1,476 photo copies ran
    this 23 GB machine out of memory). `rng`: a new order every epoch; None: in order."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = rng.permutation(len(y)) if rng is not None else np.arange(len(y))

        def __len__(self):
            return -(-len(y) // batch)

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch:(i + 1) * batch])
            return (x8[idx].astype(np.float32), x16[idx].astype(np.float32)), y[idx]

        def on_epoch_end(self):
            if rng is not None:
                self.order = rng.permutation(len(y))

    return Batches()


def train(args: DetectorArgs) -> Path:
    """Train, choose the checkpoint on the 'val' photos, export; returns the run folder."""
    settings.quiet_tensorflow()
    import keras

    from maskdash.model.runtime import to_tflite
    from maskdash.train.run import Run, machine, write_atomic, write_csv, write_json

    run = Run(args.out)
    keras.utils.set_random_seed(args.seed)
    scenes_dir = args.scenes or settings.dev_scenes_dir()
    fit, val = split(scenes_dir, args.limit)
    if not fit or not val:
        raise ValueError(f"{settings.display_path(scenes_dir)}: its train fold has {len(fit)} 'fit' and {len(val)} "
                         "'val' photos; the face head needs both (a folder of VOC scenes: images/, annotations/)")
    weights = args.base_weights or settings.base_weights()
    write_json(run.args, {**asdict(args), "base_weights": weights, "fit_photos": len(fit), "val_photos": len(val)})
    pool = None
    if args.paste:
        pool = donors(args.extra_faces or settings.extra_faces_dir())
        if not pool:
            raise ValueError(f"{settings.display_path(args.extra_faces or settings.extra_faces_dir())}: no faces of its "
                             "train fold to paste (an extra-faces folder: index.csv with boxes, and the crops)")
    start = time.time()
    backbone = fh.build_backbone(weights)
    x8, x16, y, skipped = features(fit, backbone, args.variants, np.random.default_rng(args.seed), "features (fit)",
                                   args.zoom, args.paste, pool)
    v8, v16, vy, vskipped = features(val, backbone, 0, None, "features (val)")
    run.write_skipped(skipped + vskipped)
    head = fh.build_head(args.dropout)
    steps = -(-len(y) // args.batch) * args.epochs
    head.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.lr, steps)), loss=loss)
    history, best = [], float("inf")
    fit_batches = batches(x8, x16, y, args.batch, np.random.default_rng([args.seed, 2]))
    val_batches = batches(v8, v16, vy, args.batch, None)
    for epoch in range(args.epochs):
        h = head.fit(fit_batches, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
        val_loss = float(head.evaluate(val_batches, verbose=0))
        history.append([epoch + 1, round(float(h.history["loss"][-1]), 5), round(val_loss, 5)])
        write_csv(run.history, ["epoch", "loss", "val_loss"], history)
        write_atomic(run.dir / "head_last.keras", lambda tmp: head.save(tmp))
        if val_loss < best:
            best = val_loss
            write_atomic(run.dir / "head_best.keras", lambda tmp: head.save(tmp))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {history[-1][1]:.4f}, val_loss {val_loss:.4f}"
              f"{' (best)' if val_loss == best else ''}", flush=True)
    head = keras.models.load_model(run.dir / "head_best.keras", compile=False)
    detector = fh.build_detector(backbone, head)
    write_atomic(run.dir / "model.keras", lambda tmp: detector.save(tmp))
    flatbuffer = to_tflite(detector, "float16")
    write_atomic(run.dir / "model.tflite", lambda tmp: tmp.write_bytes(flatbuffer))
    write_json(run.training, {"best_val_loss": best, "best_epoch": int(np.argmin([r[2] for r in history]) + 1),
                              "fit_samples": int(len(y)), "minutes": round((time.time() - start) / 60, 1),
                              "machine": machine(keras.backend.backend(), keras.__version__)})
    return run.dir


SHIPPED_FILES = ("model.tflite", "args.json", "history.csv", "training.json")


def ship(run_dir: Path | str, out_dir: Path | str) -> Path:
    """Copy a run's detector and records into `out_dir` (models/facehead) and write its card."""
    import shutil

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    missing = [n for n in SHIPPED_FILES if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{settings.display_path(run_dir)} has no {', '.join(missing)} (an unfinished run?)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        shutil.copyfile(run_dir / name, out_dir / name)
    from maskdash.model.runtime import record_checksums

    record_checksums([out_dir / "model.tflite"])  # models/SHA256SUMS, when out_dir is under models/
    return write_card(out_dir)


def _scene_row(name: str, path: Path) -> str | None:
    import json

    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    a, big = d["all"], d["faces_32px_plus"]
    pct = lambda v: "–" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    return (f"| {name} | `{d['detector']}` | {d['images']} | {pct(a['right_share'])} ({pct(a['found_share'])}) | "
            f"{pct(big['right_share'])} ({pct(big['found_share'])}) | {d['false_positives_per_image']:.2f} |")


def write_card(model_dir: Path | str) -> Path:
    """MODEL_CARD.md from the files beside it: the run's records and the scene figures
    (`python -m maskdash scenes … --json models/facehead/scenes_<part>_<detector>.json`)."""
    import json

    from maskdash.files import write_text_atomic
    from maskdash.inference import centerface
    from maskdash.inference import facehead as joined

    model_dir = Path(model_dir)
    args = json.loads((model_dir / "args.json").read_text())
    facts = json.loads((model_dir / "training.json").read_text())
    history = (model_dir / "history.csv").read_text().splitlines()[1:]
    L = ["# Face head — model card", "",
         "MaskDash's own face detector for the photo pipeline (`maskdash.model.facehead`): a CenterNet-style head "
         "(heat map of face centres, box size, offset on a stride-8 grid) on the frozen ImageNet MobileNetV2's "
         f"stride-8 and stride-16 features; the photo letterboxed to {fh.SIDE}×{fh.SIDE}. The Photos page and "
         "`predict` use it joined with YuNet multi-scale (`yunet-facehead`): every YuNet face is kept, and a face-head "
         f"face is added when its score is at least {joined.THRESHOLD}, it is at least {joined.MIN_FACE_PX} px tall "
         f"in a photo up to {joined.REFERENCE_LONG_SIDE} px long (in proportion on larger photos, which the face head "
         f"sees at {fh.SIDE} px all the same) and no YuNet face overlaps it (IoU ≥ {joined.JOIN_IOU}) or holds its centre (on close-up "
         "portraits the face head also boxed a masked mouth or half a face: 8 extra boxes on 150 Face Mask 12K "
         "Validation faces, shown large, before this rule, none after). "
         + (f"Faces of {joined.LARGE_FACE_PX} px and more join from {joined.LARGE_THRESHOLD}; "
            if joined.LARGE_THRESHOLD < joined.THRESHOLD else "")
         + "Large faces BlazeFace proposes "
         "over windows of the photo join when YuNet's second look confirms them; last, every box under "
         f"{centerface.CHECK_BELOW_PX:g} px must also be seen by CenterFace, a detector trained on other data "
         "(`maskdash/inference/centerface.py`), or it is dropped.", "",
         "## Data and training", "",
         f"`python -m maskdash train-detector` — the dev scenes' train fold only, split by photo into {args['fit_photos']} "
         f"'fit' photos that train and {args['val_photos']} 'val' photos that choose the checkpoint and the joining "
         f"settings above. Each fit photo as it is, mirrored, and {args['variants']} copies scaled to 55–90 %, moved, "
         "re-exposed, blurred and JPEG-compressed"
         + (f"; {args['zoom']} copies enlarged 1.3–2× and cut to the input" if args.get("zoom") else "")
         + (f"; {args['paste']} copies with 1–{PASTE_MAX} real faces from the extra faces' train fold (other web photos: "
            "masks, turned heads, masks below the nose, bare faces) pasted in at "
            f"{PASTE_FACE_PX[0]}–{PASTE_FACE_PX[1]} px, blended through a softened ellipse, never over a labelled face, "
            "for the large masked and turned faces the dev photos have few of" if args.get("paste") else "")
         + "; the backbone's features computed once, the head (~120 k weights) "
         f"trained {args['epochs']} epochs (Adam {args['lr']}, cosine decay, batch {args['batch']}, spatial dropout "
         f"{args['dropout']}). Best epoch {facts['best_epoch']} (validation loss {facts['best_val_loss']:.3f}); "
         f"{facts['minutes']} minutes on {facts['machine']}. Never trained on: the dev holdout fold, Face Mask 12K, "
         + ("the extra faces' val and holdout folds." if args.get("paste") else "the extra-face sets."), "",
         "| epoch | loss | val_loss |", "|---|---|---|", *[f"| {r.replace(',', ' | ')} |" for r in history], "",
         "## Figures (`python -m maskdash scenes`)", "",
         "Whole photo pipeline with the shipped classifier: faces found and labelled right (found), all faces and "
         "faces ≥ 32 px tall, and detections matching no labelled face per photo.", "",
         "| photos | detector | images | all faces | ≥ 32 px | false per photo |", "|---|---|---|---|---|---|"]
    for part, name in (("val", "train fold, 'val' photos (settings chosen here)"), ("holdout", "dev holdout (never used to choose)")):
        for det in ("yunet-multiscale", "yunet-facehead"):
            row = _scene_row(name, model_dir / f"scenes_{part}_{det}.json")
            if row:
                L.append(row)
    L += ["", "The holdout is measured once for each head shipped, after the val photos chose it (the rule and the "
          "heads that were not shipped: `models/facehead/NOTES.md`).",
          "", "## Limits", "",
          f"- Trained on {args['fit_photos']} street photos of one data set (Kaggle Face Mask Detection, mostly surgical "
          "masks, daylight)" + (" and faces from other web photos pasted into them" if args.get("paste") else "")
          + "; other cameras and crowds were not seen.",
          f"- A {fh.SIDE} px input: in a photo much larger than the dev photos (~400 px) its faces must be larger "
          f"too; faces under {joined.MIN_FACE_PX} px are left to YuNet's tiles.",
          "- Its scores are not calibrated like YuNet's; the Photos page's detector threshold moves the face head's in "
          "proportion.",
          "", "Licence: the project's own model, trained from the CC0 dev scenes and the Apache-2.0 ImageNet weights"
          + (", and faces of the extra faces (cut from MIT, CC BY 4.0 and unlicensed web-photo sets; research use only: "
             "check their terms before using the model elsewhere)." if args.get("paste") else ".")]
    path = model_dir / "MODEL_CARD.md"
    write_text_atomic(path, "\n".join(L) + "\n")
    return path
