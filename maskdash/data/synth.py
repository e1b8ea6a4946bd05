"""Synthetic TRAINING faces of class mask_incorrect: a mask worn below the nose.

A real mask's fabric, cut from a Face Mask 12K Train "WithMask" face (the region between nose and
chin, found with BlazeFace's keypoints), is warped onto an unmasked Train face ("WithoutMask") in
a mask-shaped region that starts just below the nose tip ("nose": nostrils and nose tip visible,
mouth and chin covered) or below the lower lip ("chin": mouth visible too). The region is built in
the face's own frame (eye line, ears, nose, mouth), wraps like a cylinder (fabric compressed and
darker towards the ears), has soft edges and optional ear loops, and is blurred to the target
face's native resolution so that a sharp mask does not stand out on a blurry upscaled face.
A minority of masks are plain surgical colours (light blue, white, black) with horizontal pleats.

Only Train images are read. This generator is separate from the failure-analysis study's
occluders (maskdash.analysis) and shares no code with it.

    python -m maskdash.data.synth --n 1000 --seed 0 --out /path/to/synth-faces

writes mask_incorrect/synth_*.jpg and an index.csv in the extra-faces format."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np

from maskdash.imaging import INPUT_SIZE, load_rgb, shrink, to_input

VARIANTS = ("nose", "chin")
CHIN_SHARE = 0.35  # share of "chin" faces in build_incorrect
MIN_VISIBLE = 0.08  # a mask must change at least this share of the crop
PLAIN_SHARE = 0.2  # share of plain surgical-colour masks
PLAIN_COLOURS = {  # RGB
    "light blue": (150, 200, 225),
    "white": (232, 234, 236),
    "black": (38, 38, 42),
}
INDEX_COLUMNS = ("path", "class", "source", "repo", "commit", "orig_path", "box", "tags", "sha256")
TEXTURE_SIZE = 96  # the rectified fabric patch, TEXTURE_SIZE × TEXTURE_SIZE
CANVAS_SCALE = 2.0  # BlazeFace wants context around a tight crop

_detector = None


def _get_detector():
    global _detector
    if _detector is None:
        from maskdash.inference.detection import BlazeFaceDetector

        _detector = BlazeFaceDetector("blazeface", 0.3, threads=1)  # one thread: deterministic, shares the CPU
    return _detector


def landmarks(face: np.ndarray) -> np.ndarray | None:
    """BlazeFace's 6 keypoints (right eye, left eye, nose tip, mouth, right ear, left ear) in the
    face crop's pixels, 6×2 float32, or None. The crop is pasted on a grey canvas twice its size."""
    h, w = face.shape[:2]
    cw, ch = int(round(w * CANVAS_SCALE)), int(round(h * CANVAS_SCALE))
    ox, oy = (cw - w) // 2, (ch - h) // 2
    canvas = np.full((ch, cw, 3), 128, np.uint8)
    canvas[oy:oy + h, ox:ox + w] = face
    found = _get_detector().detect(canvas)
    if not found:
        return None
    best = min(found, key=lambda f: (f.box[0] + f.box[2] - cw) ** 2 + (f.box[1] + f.box[3] - ch) ** 2)
    lm = np.asarray(best.landmarks, np.float64) - [ox, oy]
    # The face must be the crop's face: its nose inside the crop, eyes apart by a sensible amount.
    iod = np.linalg.norm(lm[1] - lm[0])
    if not (0 <= lm[2, 0] < w and 0 <= lm[2, 1] < h) or not 0.15 * w < iod < 0.8 * w:
        return None
    return lm.astype(np.float32)


class _Frame:
    """The face's own frame: origin at the nose tip, `ex` along the eye line (image left → right),
    `ey` perpendicular to it towards the mouth; distances in pixels. Mask geometry is described
    by a half-width on each side of the face's midline and, across u ∈ [-1, 1], top and bottom
    curves in the ey direction."""

    def __init__(self, lm: np.ndarray):
        lm = np.asarray(lm, np.float64)
        reye, leye, nose, mouth, rear, lear = lm
        ex = leye - reye
        if ex[0] < 0:  # a mirrored order: keep ex pointing to the image's right
            ex = -ex
            rear, lear = lear, rear
        self.iod = float(np.linalg.norm(ex))
        self.ex = ex / self.iod
        ey = np.array([-self.ex[1], self.ex[0]])
        if np.dot(ey, mouth - (reye + leye) / 2) < 0:
            ey = -ey
        self.ey = ey
        self.origin = nose
        a, b = self.local(lm)
        self.b_eye = float((b[0] + b[1]) / 2)  # negative: eyes above the nose tip
        self.b_mouth = max(float(b[3]), 0.25 * self.iod)
        self.a_mid = float(a[3])  # the midline at the mouth (follows yaw)
        # Chin: mouth-to-chin ≈ 0.75 of eyes-to-mouth on frontal faces.
        self.b_chin = self.b_mouth + 0.75 * (self.b_mouth - self.b_eye)
        self.a_right = float(min(a[4], self.a_mid - 0.25 * self.iod))  # image-left ear (negative)
        self.a_left = float(max(a[5], self.a_mid + 0.25 * self.iod))
        self.ear_right, self.ear_left = rear, lear  # image-left, image-right

    def local(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(pts, np.float64) - self.origin
        return d @ self.ex, d @ self.ey

    def to_image(self, a, b) -> np.ndarray:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return self.origin + a[..., None] * self.ex + b[..., None] * self.ey


class _Shape:
    """A mask region: sides at `right`/`left` (a, pixels), the midline `mid`; top and bottom
    curves b(u) given by a centre value, a corner value and an exponent."""

    def __init__(self, mid, right, left, top_c, top_k, top_p, bot_c, bot_k):
        self.mid, self.right, self.left = mid, right, left
        self.top_c, self.top_k, self.top_p = top_c, top_k, top_p
        self.bot_c, self.bot_k = bot_c, bot_k

    def u_of(self, a: np.ndarray) -> np.ndarray:
        return np.where(a < self.mid, (a - self.mid) / (self.mid - self.right), (a - self.mid) / (self.left - self.mid))

    def a_of(self, u: np.ndarray) -> np.ndarray:
        return np.where(u < 0, self.mid + u * (self.mid - self.right), self.mid + u * (self.left - self.mid))

    def half_width(self, u: np.ndarray) -> np.ndarray:
        return np.where(u < 0, self.mid - self.right, self.left - self.mid)

    def top(self, u: np.ndarray) -> np.ndarray:
        return self.top_c + (self.top_k - self.top_c) * np.abs(u) ** self.top_p

    def bottom(self, u: np.ndarray) -> np.ndarray:
        return self.bot_k + (self.bot_c - self.bot_k) * np.sqrt(np.clip(1 - np.abs(u) ** 2.2, 0, 1))


def _target_shape(fr: _Frame, rng: np.random.Generator, variant: str) -> _Shape:
    d, bm, bc = fr.iod, fr.b_mouth, fr.b_chin
    inset = rng.uniform(0.86, 0.97)  # mask sides a little inside the ear keypoints
    right = fr.a_mid + inset * (fr.a_right - fr.a_mid)
    left = fr.a_mid + inset * (fr.a_left - fr.a_mid)
    if variant == "nose":
        top_c = rng.uniform(0.42, 0.6) * bm  # on the upper lip: nose tip and nostrils free
        top_k = rng.uniform(-0.12, 0.08) * d  # corners up on the cheeks, about nose level
        top_p = rng.uniform(1.3, 2.2)
        bot_c = bc + rng.uniform(0.02, 0.15) * d
        bot_k = bm + rng.uniform(0.1, 0.35) * d
    else:  # "chin": below the lower lip, the mouth visible
        top_c = bm + rng.uniform(0.26, 0.38) * d  # below the lower lip
        top_k = bm + rng.uniform(-0.12, 0.08) * d
        top_p = rng.uniform(1.4, 2.4)
        bot_c = bc + rng.uniform(0.08, 0.22) * d
        bot_k = bm + rng.uniform(0.25, 0.45) * d
        bot_k = max(bot_k, top_k + 0.25 * d)
    return _Shape(fr.a_mid, right, left, top_c, top_k, top_p, bot_c, bot_k)


# ---------------------------------------------------------------- textures

def fabric_from_masked(face: np.ndarray, lm: np.ndarray | None = None) -> np.ndarray | None:
    """The fabric of a worn mask, rectified: the region from below the nose tip to the chin,
    across the middle of the face, of a (Train WithMask) face → TEXTURE_SIZE² RGB, or None when
    no landmarks are found or the region looks like skin (no mask there)."""
    face = to_input(face)
    lm = landmarks(face) if lm is None else lm
    if lm is None:
        return None
    fr = _Frame(lm)
    h, w = face.shape[:2]
    s = TEXTURE_SIZE
    uu, vv = np.meshgrid(np.linspace(-1, 1, s), np.linspace(0.0, 1.0, s))
    b_top = 0.3 * fr.b_mouth
    # Tight crops often cut the chin (or a cheek): shrink the region until it lies in the crop.
    for spread, reach in ((0.6, 0.5), (0.55, 0.35), (0.5, 0.2), (0.42, 0.05)):
        a = fr.a_mid + spread * uu * np.where(uu < 0, fr.a_mid - fr.a_right, fr.a_left - fr.a_mid)
        b = b_top + vv * (fr.b_mouth + reach * (fr.b_chin - fr.b_mouth) - b_top)
        xy = fr.to_image(a, b).astype(np.float32)
        if xy[..., 0].min() >= -1 and xy[..., 0].max() <= w and xy[..., 1].min() >= -1 and xy[..., 1].max() <= h:
            break
    else:
        return None
    tex = cv2.remap(face, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # Reject skin (a mask too small, a hand, landmarks off): the skin's colour is read on the
    # forehead and between the eyes, which a worn mask leaves free.
    ea = fr.local(lm[:2])[0]
    pts = np.concatenate([
        fr.to_image(np.linspace(ea.min(), ea.max(), 7), np.full(7, fr.b_eye - 0.4 * fr.iod)),
        fr.to_image(fr.a_mid + np.linspace(-0.12, 0.12, 5) * fr.iod, np.full(5, fr.b_eye)),
    ])
    sx = np.clip(pts[:, 0].round().astype(int), 0, w - 1)
    sy = np.clip(pts[:, 1].round().astype(int), 0, h - 1)
    lab_face = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin = np.median(lab_face[sy, sx], axis=0)
    lab_tex = cv2.cvtColor(tex, cv2.COLOR_RGB2LAB).astype(np.float32).reshape(-1, 3)
    dist = np.linalg.norm((lab_tex - skin) * [0.5, 1, 1], axis=1)
    if np.median(dist) < 14 or (dist < 10).mean() > 0.25:
        return None
    return tex


def plain_texture(rng: np.random.Generator, colour: str | None = None) -> np.ndarray:
    """A plain surgical mask: one colour, horizontal pleats, faint weave noise."""
    name = colour or rng.choice(list(PLAIN_COLOURS))
    base = np.array(PLAIN_COLOURS[name], np.float32) * rng.uniform(0.9, 1.05)
    s = TEXTURE_SIZE
    v = np.linspace(0, 1, s)[:, None]
    pleats = rng.integers(2, 4)
    phase = rng.uniform(0, 1)
    fold = np.sin((v * pleats + phase) * 2 * np.pi)
    shade = 1 - 0.07 * np.clip(fold, 0, 1) ** 3 + 0.03 * np.clip(-fold, 0, 1)
    shade = np.broadcast_to(shade, (s, s)) + rng.normal(0, 0.015, (s, s))
    tex = base[None, None, :] * shade[..., None]
    if name == "black":
        tex = tex + 12 * (shade[..., None] - 1)
    return np.clip(tex, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- compositing

def slide_below_nose(
    face: np.ndarray,
    texture: np.ndarray,
    rng: np.random.Generator,
    variant: str = "nose",
    native: int | None = None,
    lm: np.ndarray | None = None,
) -> np.ndarray | None:
    """An unmasked face (H×W×3 uint8, normally 224²) wearing `texture` (a fabric patch, e.g. from
    fabric_from_masked or plain_texture) below the nose ("nose") or on the chin ("chin").
    `native`: the face's original width before upscaling; the mask is blurred to match it.
    `lm`: its BlazeFace keypoints when already known. → the new face, or None without landmarks.
    Pixels outside the mask (and its ear loops) are the input's exactly."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(f"face must be an H×W×3 uint8 array, got {face.dtype} {face.shape}")
    lm = landmarks(face) if lm is None else np.asarray(lm, np.float64)
    if lm is None:
        return None
    fr = _Frame(lm)
    sh = _target_shape(fr, rng, variant)
    h, w = face.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.stack([xs - fr.origin[0], ys - fr.origin[1]], -1)
    a, b = d @ fr.ex, d @ fr.ey
    u = sh.u_of(a)
    uc = np.clip(u, -1, 1)
    top, bot = sh.top(uc), sh.bottom(uc)
    v = (b - top) / np.maximum(bot - top, 1e-3)
    # Soft edges: signed distance (pixels, approx.) to the nearest border.
    edge = np.minimum(np.minimum(b - top, bot - b), (1 - np.abs(u)) * sh.half_width(uc))
    soft = rng.uniform(0.8, 1.6) * max(1.0, h / INPUT_SIZE)
    alpha = np.clip(edge / soft + 0.5, 0, 1)
    # Fabric coordinates: a cylinder seen from the front (compressed towards the ears).
    theta = np.arcsin(np.clip(uc, -1, 1) * 0.97)
    tx = (0.5 + theta / (2 * np.arcsin(0.97))) * (texture.shape[1] - 1)
    ty = np.clip(v, 0, 1) * (texture.shape[0] - 1)
    layer = cv2.remap(texture, tx.astype(np.float32), ty.astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    # Shading: darker towards the ears and under the chin, a side light, the face's own brightness.
    lit = rng.uniform(-0.12, 0.12)
    shade = (1 - 0.28 * uc ** 2 * np.abs(uc)) * (1 + lit * uc)
    shade *= 1 - 0.18 * np.clip((v - 0.8) / 0.2, 0, 1) ** 2
    hem = rng.uniform(-0.12, 0.08)  # the bound top edge, a little lighter or darker
    shade *= 1 + hem * np.clip(1 - (b - top) / (0.05 * fr.iod + 1), 0, 1)
    inside = alpha > 0
    face_luma = face.astype(np.float32).mean() + 1
    tex_luma = texture.astype(np.float32).mean() + 1
    gain = np.clip((face_luma / 128) ** 0.5, 0.75, 1.2) if tex_luma > 60 else 1.0
    layer *= (shade * gain)[..., None]
    # Ear loops: thin lines from the mask's side corners to the ears.
    if rng.random() < 0.7:
        loop_rgb = texture.reshape(-1, 3).astype(np.float32).mean(0) if rng.random() < 0.5 else np.full(3, 225.0)
        loop_rgb = loop_rgb * rng.uniform(0.85, 1.05)
        lines = np.zeros((h, w), np.uint8)
        thick = max(1, int(round(rng.uniform(1.0, 2.2) * h / INPUT_SIZE)))
        for side, ear in ((-1.0, fr.ear_right), (1.0, fr.ear_left)):
            ax = float(sh.a_of(np.array(side)))
            for bb in (float(sh.top(np.array(side))) + 0.03 * fr.iod, float(sh.bottom(np.array(side))) - 0.05 * fr.iod):
                p0 = fr.to_image(ax, bb)
                mid = (p0 + ear) / 2 + fr.ey * rng.uniform(-0.04, 0.04) * fr.iod
                pts = np.array([p0, mid, ear]) * 16
                cv2.polylines(lines, [pts.round().astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
        la = lines.astype(np.float32) / 255 * rng.uniform(0.6, 0.9)
        la[inside] = 0
        layer = np.where((la > 0)[..., None], loop_rgb[None, None, :], layer)
        alpha = np.maximum(alpha, la)
    if native and native < max(h, w):  # blur the mask like the face was blurred by its upscaling
        layer = shrink(np.clip(layer, 0, 255).astype(np.uint8), int(native), h).astype(np.float32)
        alpha = shrink((alpha * 255).astype(np.uint8)[..., None].repeat(3, -1), int(native), h)[..., 0] / 255.0
    noise = rng.normal(0, 2.0, layer.shape).astype(np.float32)
    layer = layer + noise
    alpha = alpha[..., None]
    out = face.astype(np.float32) * (1 - alpha) + layer * alpha
    out = np.clip(out.round(), 0, 255).astype(np.uint8)
    out[alpha[..., 0] <= 0] = face[alpha[..., 0] <= 0]
    return out


# ---------------------------------------------------------------- building a set

def _changed_share(face: np.ndarray, out: np.ndarray) -> float:
    return float((np.abs(out.astype(np.int16) - face).max(-1) > 8).mean())


def _train_root(train_dir: Path | str) -> Path:
    """The Train folder of Face Mask 12K; anything else (Validation, Test, another folder) is refused."""
    root = Path(train_dir).resolve()
    if root.name.lower() != "train" and (root / "Train").is_dir():
        root = root / "Train"
    if root.name != "Train":
        raise ValueError(f"synthetic training faces are made from Face Mask 12K's Train folder only, not {train_dir}")
    for cls in ("WithMask", "WithoutMask"):
        if not (root / cls).is_dir():
            raise FileNotFoundError(f"{root} has no {cls} folder")
    return root


def _images(folder: Path) -> list[Path]:
    from maskdash.data.datasets import is_image_file

    return sorted(p for p in folder.iterdir() if is_image_file(p))


def _load(path: Path) -> tuple[np.ndarray, int]:
    rgb = load_rgb(path)
    return to_input(rgb), int(rgb.shape[1])


def build_incorrect(
    train_dir: Path | str, n: int, seed: int = 0, out_dir: Path | str | None = None
) -> tuple[np.ndarray, list[str]]:
    """n synthetic mask_incorrect faces (n×224×224×3 uint8) made deterministically from `seed`,
    and the Train WithoutMask file each was made from. With `out_dir`, also written there as
    JPEGs with an index.csv (write_incorrect)."""
    root = _train_root(train_dir)
    rng = np.random.default_rng(seed)
    faces = _images(root / "WithoutMask")
    masked = _images(root / "WithMask")
    face_order = rng.permutation(len(faces))
    tex_order = rng.permutation(len(masked))
    # Real-fabric patches, one per face until the pool is full (then reused, in a shuffled order).
    pool = max(8, min(n, 400))
    textures: list[np.ndarray] = []
    for i in tex_order:
        if len(textures) >= pool:
            break
        t = fabric_from_masked(_load(masked[i])[0])
        if t is not None:
            textures.append(t)
    images, sources, tags = [], [], []
    fi = 0
    while len(images) < n:
        if fi >= 3 * len(faces) + 3 * n:
            raise RuntimeError(f"only {len(images)} of {n} faces could be made from {root}")
        path = faces[face_order[fi % len(faces)]]
        fi += 1
        face, native = _load(path)
        lm = landmarks(face)
        if lm is None:
            continue
        item_rng = np.random.default_rng([seed, fi])
        if item_rng.random() < PLAIN_SHARE:
            tex = plain_texture(item_rng)
        else:
            tex = textures[len(images) % len(textures)] if textures else plain_texture(item_rng)
            if item_rng.random() < 0.5:
                tex = tex[:, ::-1]
        variant = "chin" if item_rng.random() < CHIN_SHARE else "nose"
        tex = np.ascontiguousarray(tex)
        out = slide_below_nose(face, tex, item_rng, variant, native=native, lm=lm)
        if out is None:
            continue
        if variant == "chin" and _changed_share(face, out) < MIN_VISIBLE:  # the chin is out of the crop
            variant = "nose"
            out = slide_below_nose(face, tex, item_rng, variant, native=native, lm=lm)
        if _changed_share(face, out) < MIN_VISIBLE:
            continue
        images.append(out)
        sources.append(str(path))
        tags.append(f"synth;{variant}")
    arr = np.stack(images) if images else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    if out_dir is not None:
        _write(arr, sources, tags, root, Path(out_dir))
    return arr, sources


def _write(images: np.ndarray, sources: list[str], tags: list[str], root: Path, out_dir: Path) -> Path:
    sub = out_dir / "mask_incorrect"
    sub.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (img, src, tag) in enumerate(zip(images, sources, tags)):
        rel = f"mask_incorrect/synth_{i:05d}.jpg"
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError(f"could not encode {rel}")
        (out_dir / rel).write_bytes(buf.tobytes())
        orig = Path(src).relative_to(root.parent).as_posix()
        rows.append({"path": rel, "class": "mask_incorrect", "source": "synth", "repo": "", "commit": "",
                     "orig_path": orig, "box": "", "tags": tag, "sha256": hashlib.sha256(buf.tobytes()).hexdigest()})
    index = out_dir / "index.csv"
    with open(index, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=INDEX_COLUMNS)
        wr.writeheader()
        wr.writerows(rows)
    return index


def write_incorrect(train_dir: Path | str, out_dir: Path | str, n: int, seed: int = 0) -> Path:
    """CLI entry: make n faces and write them under out_dir (mask_incorrect/synth_NNNNN.jpg and
    index.csv, readable by maskdash.data.datasets.list_extra_faces). → the index path."""
    build_incorrect(train_dir, n, seed, out_dir)
    return Path(out_dir) / "index.csv"


def contact_sheet(images: np.ndarray, cols: int = 6, size: int = 160) -> np.ndarray:
    """A grid of faces (RGB) for looking at them."""
    tiles = [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]
    while len(tiles) % cols:
        tiles.append(np.full((size, size, 3), 255, np.uint8))
    rows = [np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)]
    return np.concatenate(rows, 0)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    from maskdash import settings

    p = argparse.ArgumentParser(prog="python -m maskdash.data.synth", description=__doc__.split("\n\n")[0])
    p.add_argument("--train", default=str(settings.facemask12k_dir() / "Train"), help="Face Mask 12K Train folder")
    p.add_argument("--out", required=True, help="output folder (mask_incorrect/*.jpg + index.csv)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sheet", help="also write a contact sheet PNG of the first 24 faces here")
    args = p.parse_args(argv)
    t = time.perf_counter()
    images, _ = build_incorrect(args.train, args.n, args.seed, args.out)
    print(f"{len(images)} faces in {time.perf_counter() - t:.1f} s → {Path(args.out) / 'index.csv'}")
    if args.sheet:
        cv2.imwrite(args.sheet, cv2.cvtColor(contact_sheet(images[:24]), cv2.COLOR_RGB2BGR))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
