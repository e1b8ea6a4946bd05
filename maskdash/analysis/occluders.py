"""Procedurally drawn non-mask objects over the lower face: a hand, a phone, a cup and a scarf.

They test the reported failure "a hand (or anything) over the mouth counts as a mask". Every object
is drawn here with NumPy/OpenCV — shapes, shading and textures (skin, brushed metal, ceramic, kraft
paper, plaid and knit fabric) come from formulas and seeded noise, nothing is copied from a photo.

Placement follows the face: landmarks give the eye line (roll and scale: the inter-eye distance
`s`), the nose tip and the mouth. Each object is drawn upright in a local canvas whose unit is `s`
and whose origin is the nose tip, then warped onto the face with one affine map, so it turns and
scales with the face. Without landmarks, `FaceGeometry.typical()` uses the median landmark layout
BlazeFace finds on Face Mask 12K's unmasked Test crops."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OCCLUDERS: tuple[str, ...] = ("hand", "phone", "cup", "scarf")
OCCLUDER_TITLES = {
    "hand": "hand over mouth and nose",
    "phone": "phone held in front of the face",
    "cup": "cup raised to the mouth",
    "scarf": "scarf or fabric pulled over mouth and nose",
}

SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 165], [224, 172, 138], [198, 134, 96], [141, 85, 54], [94, 58, 38]],
    np.float32,
)

# Median BlazeFace landmarks on unmasked Face Mask 12K Test crops (fractions of the crop):
# right eye, left eye, nose tip, mouth (the subject's right eye is on the image's left).
TYPICAL_LANDMARKS = np.array([[0.31, 0.40], [0.68, 0.40], [0.50, 0.64], [0.50, 0.81]], np.float32)

# The local canvas spans a ∈ [-A_SPAN, A_SPAN] (along the eye line) and b ∈ [-B_TOP, B_BOTTOM]
# (down the face), in units of the inter-eye distance, origin at the nose tip.
A_SPAN, B_TOP, B_BOTTOM = 3.0, 2.5, 3.5
MIN_UNIT_PX = 6.0  # below this the face is too small to place anything meaningful


@dataclass(frozen=True)
class FaceGeometry:
    """The four points that place an occluder, in pixels of the face image."""

    right_eye: np.ndarray
    left_eye: np.ndarray
    nose: np.ndarray
    mouth: np.ndarray

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> "FaceGeometry":
        """BlazeFace (6 points: right eye, left eye, nose tip, mouth, right ear, left ear) or
        YuNet (5 points: eyes, nose tip, two mouth corners)."""
        lm = np.asarray(landmarks, np.float32)
        if lm.ndim != 2 or lm.shape[1] != 2 or len(lm) < 4:
            raise ValueError(f"need at least 4 landmarks as K×2, got shape {lm.shape}")
        mouth = lm[3:5].mean(axis=0) if len(lm) == 5 else lm[3]
        return cls(lm[0].copy(), lm[1].copy(), lm[2].copy(), mouth.copy())

    @classmethod
    def typical(cls, width: int, height: int | None = None) -> "FaceGeometry":
        """Where the points usually are in a tight face crop of this size."""
        scale = np.array([width, height or width], np.float32)
        pts = TYPICAL_LANDMARKS * scale
        return cls(pts[0], pts[1], pts[2], pts[3])

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.left_eye - self.right_eye))

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """(u, v): u along the eye line from the image-left eye to the image-right one, v
        perpendicular to it, pointing down the face (towards the mouth)."""
        d = self.left_eye - self.right_eye
        n = float(np.linalg.norm(d))
        u = d / n if n > 1e-6 else np.array([1.0, 0.0], np.float32)
        if u[0] < 0:  # a mirrored face: keep u pointing to the image's right
            u = -u
        v = np.array([-u[1], u[0]], np.float32)
        if float(np.dot(self.mouth - (self.left_eye + self.right_eye) / 2, v)) < 0:
            v = -v
        return u.astype(np.float32), v.astype(np.float32)

    def to_local(self, point: np.ndarray) -> np.ndarray:
        """Image pixels → local units (a along the eyes, b down the face; nose tip = 0)."""
        u, v = self.axes()
        d = np.asarray(point, np.float32) - self.nose
        s = max(self.eye_distance, 1e-6)
        return np.array([np.dot(d, u) / s, np.dot(d, v) / s], np.float32)


@dataclass
class Occlusion:
    image: np.ndarray  # H×W×3 uint8 RGB, the face with the object drawn over it
    alpha: np.ndarray  # H×W float32 in [0, 1]: how much of each pixel the object covers
    kind: str


# ---------------------------------------------------------------- textures (seeded noise)


def value_noise(shape: tuple[int, int], cell: float, rng: np.random.Generator, octaves: int = 3) -> np.ndarray:
    """Smooth fractal noise in about [-1, 1]: random grids enlarged with cubic interpolation,
    each octave twice as fine and half as strong."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / max(cell, 1.0)) + 2), max(2, int(w / max(cell, 1.0)) + 2)
        grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cell /= 2
    return out / total


def _grid(size: int, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Local coordinates (a, b) of every canvas pixel centre."""
    idx = (np.arange(size, dtype=np.float32) + 0.5) / unit
    b, a = np.meshgrid(idx - B_TOP, idx - A_SPAN, indexing="ij")
    return a, b


def _capsule(a, b, p0, p1, r):
    """(inside, normal_z): a rounded stick from p0 to p1 of radius r, shaded as a cylinder."""
    p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    d = p1 - p0
    t = np.clip(((a - p0[0]) * d[0] + (b - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0, 1)
    dist = np.hypot(a - (p0[0] + t * d[0]), b - (p0[1] + t * d[1]))
    inside = dist < r
    nz = np.sqrt(np.clip(1 - (dist / r) ** 2, 0, 1))
    return inside, nz


def _rotate(a, b, centre, degrees):
    """Coordinates in a frame turned by `degrees` about `centre` (for tilted objects)."""
    th = np.deg2rad(degrees)
    x, y = a - centre[0], b - centre[1]
    return x * np.cos(th) + y * np.sin(th), -x * np.sin(th) + y * np.cos(th)


def _rounded_box(x, y, half_w, half_h, radius):
    """Signed distance to a rounded rectangle centred at 0 (negative inside)."""
    qx, qy = np.abs(x) - half_w + radius, np.abs(y) - half_h + radius
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0) - radius


# ---------------------------------------------------------------- the objects (local canvas)


def _hand(a, b, unit, mouth_b, rng):
    """A flat hand across mouth and nose: four fingers side by side, palm and thumb at one side."""
    side = 1.0 if rng.random() < 0.5 else -1.0  # which side the palm is on
    tone = SKIN_TONES[rng.integers(0, len(SKIN_TONES))] * rng.uniform(0.85, 1.05)
    alpha = np.zeros(a.shape, np.float32)
    shade = np.ones(a.shape, np.float32)
    top, bottom = -0.32 + rng.uniform(-0.04, 0.04), mouth_b + 0.42 + rng.uniform(-0.05, 0.05)
    radius = (bottom - top) / 8
    reach = [0.75, 0.9, 0.82, 0.6]  # how far past the nose each finger reaches (index … little)
    palm_c = (side * 1.45, (top + bottom) / 2 + 0.1)
    # palm first, fingers over it, thumb last
    inside = ((a - palm_c[0]) / 0.7) ** 2 + ((b - palm_c[1]) / 0.85) ** 2 < 1
    alpha[inside] = 1
    shade[inside] = 0.9 - 0.1 * ((a[inside] - palm_c[0]) * side)
    widths = [1.0, 1.05, 1.0, 0.9]  # index … little finger thickness
    for k in range(4):
        y = top + radius * (1 + 2 * k)
        root = (side * 1.15, y + rng.uniform(-0.02, 0.02))
        fan = np.deg2rad((k - 1.5) * rng.uniform(1, 2.5))  # fingers spread a little, not parallel
        length = 1.15 + reach[k] + rng.uniform(-0.06, 0.06)
        tip = (root[0] - side * length * np.cos(fan), root[1] + length * np.sin(fan))
        r = radius * 1.15 * widths[k]  # neighbours overlap: no see-through gaps
        inside, nz = _capsule(a, b, root, tip, r)
        alpha[inside] = 1
        shade[inside] = 0.55 + 0.45 * nz[inside]  # dark creases between neighbouring fingers
        # a nail near the tip: lighter and pinker
        nail_c = (tip[0] + side * r * 0.9, tip[1])
        nail = ((a - nail_c[0]) / (r * 0.9)) ** 2 + ((b - nail_c[1]) / (r * 0.6)) ** 2 < 1
        shade[nail & inside] *= 1.12
        # knuckle creases: short, slightly curved marks across the finger
        for frac in (0.45, 0.72):
            kx = root[0] + (tip[0] - root[0]) * frac
            ky = root[1] + (tip[1] - root[1]) * frac
            bend = 0.25 * ((b - ky) / r) ** 2 * r
            crease = inside & (np.abs(a - kx - side * bend) < 0.012 + 0.01 * rng.random())
            shade[crease] *= 0.82
    thumb_root = (side * 1.05, bottom + 0.1)
    thumb_tip = (side * 0.35, bottom + 0.45)
    inside, nz = _capsule(a, b, thumb_root, thumb_tip, radius * 1.25)
    alpha[inside] = 1
    shade[inside] = 0.6 + 0.4 * nz[inside]
    skin = value_noise(a.shape, unit * 0.25, rng) * 0.05 + value_noise(a.shape, unit * 0.05, rng, 1) * 0.03
    rgb = tone[None, None, :] * (shade + skin)[..., None]
    return np.clip(rgb, 0, 255), alpha


def _phone(a, b, unit, mouth_b, rng):
    """A smartphone held up in front of the lower face, showing its back or its dark screen."""
    half_w, half_h = rng.uniform(0.66, 0.76), 1.25
    # the top edge just above the nose tip: it hides nose and mouth, not the eyes
    centre = (rng.uniform(-0.1, 0.1), -0.3 + rng.uniform(-0.04, 0.04) + half_h)
    tilt = rng.uniform(-8, 8)
    x, y = _rotate(a, b, centre, tilt)
    sd = _rounded_box(x, y, half_w, half_h, 0.16)
    alpha = np.clip(0.5 - sd * unit, 0, 1).astype(np.float32)  # 1-pixel anti-aliased edge
    colours = np.array([[40, 40, 46], [205, 205, 210], [30, 42, 74], [150, 22, 32], [222, 182, 165],
                        [60, 90, 70], [235, 235, 225]], np.float32)
    body = colours[rng.integers(0, len(colours))]
    if rng.random() < 0.35:  # the screen side: black glass with a soft reflection
        body = np.array([12, 12, 16], np.float32)
        shade = 1.0 + 1.8 * np.exp(-((x + y * 0.6 - 0.2) ** 2) / 0.08)
        bezel = sd > -0.05
        shade = np.where(bezel, 0.8, shade)
        rgb = body[None, None, :] * shade[..., None] + 18 * np.exp(-((x - y + 0.5) ** 2) / 0.02)[..., None]
        return np.clip(rgb, 0, 255), alpha
    # the back: brushed finish (noise stretched along the phone), a gradient and a soft highlight
    streak = cv2.resize(rng.normal(0, 1, (a.shape[0], 6)).astype(np.float32), a.shape[::-1],
                        interpolation=cv2.INTER_LINEAR)
    shade = 0.85 + 0.15 * (y / half_h) * -1 + 0.04 * streak
    shade += 0.35 * np.exp(-((x * 0.8 + y * 0.5 - 0.3) ** 2) / 0.05)
    shade = np.where(sd > -0.04, 0.7, shade)  # the rim
    rgb = body[None, None, :] * shade[..., None]
    # the camera block: a darker rounded square with two or three lenses
    cam_c = (-half_w + 0.38, -half_h + 0.4)
    cam = _rounded_box(x - cam_c[0], y - cam_c[1], 0.26, 0.26, 0.08) < 0
    rgb[cam] = rgb[cam] * 0.55
    for dx, dy in ((-0.11, -0.11), (-0.11, 0.11), (0.11, 0.0))[: int(rng.integers(2, 4))]:
        r = np.hypot(x - cam_c[0] - dx, y - cam_c[1] - dy)
        lens = r < 0.085
        rgb[lens] = np.array([15, 18, 24], np.float32) * (1 + 3 * (r[lens] < 0.03))[:, None]
        ring = (r > 0.085) & (r < 0.1)
        rgb[ring] = np.array([150, 150, 155], np.float32)
    return np.clip(rgb, 0, 255), alpha


def _cup(a, b, unit, mouth_b, rng):
    """A cup raised to the mouth: a tapered cylinder seen from the side, rim above the nose tip,
    a handle (mug) or a sleeve and lid (take-away cup)."""
    mug = rng.random() < 0.5
    top = -0.3 + rng.uniform(-0.04, 0.04)
    height = rng.uniform(1.55, 1.75)
    bottom = top + height
    cx = rng.uniform(-0.12, 0.12)
    half_top = rng.uniform(0.62, 0.72)
    half_bottom = half_top * (0.95 if mug else 0.75)
    tilt = rng.uniform(-6, 6)
    x, y = _rotate(a, b, (cx, (top + bottom) / 2), tilt)
    y = y + (top + bottom) / 2  # keep b-like heights, relative to the rotated axis
    t = np.clip((y - top) / height, 0, 1)
    half = half_top + (half_bottom - half_top) * t
    body = (y >= top) & (y <= bottom) & (np.abs(x) <= half)
    across = np.clip(x / np.maximum(half, 1e-3), -1, 1)
    nz = np.sqrt(1 - across**2)
    shade = 0.55 + 0.45 * nz + 0.35 * np.exp(-((across + 0.45) ** 2) / 0.01)  # specular stripe
    if mug:
        colours = np.array([[240, 238, 232], [200, 40, 45], [40, 80, 150], [250, 200, 60], [30, 30, 30]], np.float32)
        colour = colours[rng.integers(0, len(colours))]
        grain = value_noise(a.shape, unit * 0.1, rng, 2) * 0.03
        rgb = colour[None, None, :] * (shade + grain)[..., None]
        # the handle on one side: a thick ring, half hidden behind the body
        side = 1.0 if rng.random() < 0.5 else -1.0
        hc = (side * (half_top + 0.12), top + height * 0.42)
        ring_r = np.hypot((x - hc[0]) / 0.3, (y - hc[1]) / 0.42)
        handle = (ring_r > 0.62) & (ring_r < 1.0) & (side * (x - side * half_top * 0.9) > 0)
        hshade = 0.7 + 0.3 * np.cos((ring_r - 0.81) / 0.19 * np.pi / 2)
        rgb = np.where(handle[..., None], colour[None, None, :] * hshade[..., None], rgb)
        alpha = (body | handle).astype(np.float32)
    else:  # kraft-paper take-away cup with a corrugated sleeve and a plastic lid
        paper = np.array([236, 230, 218], np.float32) * rng.uniform(0.9, 1.05)
        kraft = np.array([170, 120, 75], np.float32) * rng.uniform(0.85, 1.1)
        fibres = value_noise(a.shape, unit * 0.03, rng, 2) * 0.05
        rgb = paper[None, None, :] * (shade + fibres)[..., None]
        sleeve = body & (t > 0.35) & (t < 0.75)
        ribs = 0.9 + 0.1 * np.sin((y - top) * unit * 2 * np.pi / max(unit * 0.04, 2.0))
        rgb[sleeve] = (kraft[None, :] * (shade[sleeve] * ribs[sleeve] + fibres[sleeve])[:, None])
        lid = (y >= top - 0.1) & (y < top + 0.05) & (np.abs(x) <= half_top + 0.05)
        lid_colour = np.array([245, 245, 245], np.float32) if rng.random() < 0.5 else np.array([25, 25, 28], np.float32)
        rgb[lid] = lid_colour * (0.7 + 0.3 * nz[lid])[:, None]
        alpha = (body | lid).astype(np.float32)
    # the rim: a thin lighter line across the top
    rim = body & (np.abs(y - top) < 0.03)
    rgb[rim] = np.minimum(rgb[rim] * 1.25, 255)
    return np.clip(rgb, 0, 255), alpha


def _fabric_texture(a, b, unit, rng):
    """Plaid (two crossing sets of coloured stripes over a twill), ribbed knit, or plain wool."""
    kind = rng.integers(0, 3)
    base = np.array(rng.choice([[150, 30, 35], [30, 60, 110], [50, 90, 60], [200, 190, 170],
                                [90, 90, 95], [170, 120, 60], [120, 40, 90]]), np.float32)
    fuzz = value_noise(a.shape, unit * 0.02, rng, 2) * 0.06
    if kind == 0:  # plaid
        second = np.array(rng.choice([[20, 20, 25], [230, 220, 200], [200, 160, 40], [40, 40, 90]]), np.float32)
        period = rng.uniform(0.35, 0.55)
        width = period * rng.uniform(0.2, 0.35)
        vert = (np.mod(a, period) < width).astype(np.float32)
        horiz = (np.mod(b, period) < width).astype(np.float32)
        mix = 0.5 * (vert + horiz)
        rgb = base * (1 - mix[..., None]) + second * mix[..., None]
        twill = 0.93 + 0.07 * np.sign(np.sin((a + b) * unit * np.pi / 1.5))
        return rgb * (twill + fuzz)[..., None]
    if kind == 1:  # knit: vertical ribs of small chevrons
        rib = max(0.09, 4.0 / unit)
        x = np.mod(a, rib) / rib - 0.5
        stitch = np.mod(b + np.abs(x) * rib * 0.8, rib * 0.7) / (rib * 0.7)
        light = 0.78 + 0.22 * np.sin(stitch * np.pi) * (1 - np.abs(x))
        return base * (light + fuzz)[..., None]
    return base * (1.0 + fuzz * 2 + value_noise(a.shape, unit * 0.3, rng) * 0.08)[..., None]


def _scarf(a, b, unit, mouth_b, rng):
    """A scarf pulled up over mouth and nose: wider than the face, sagging, with soft folds."""
    edge = -0.36 + 0.06 * a**2 + 0.04 * np.sin(a * 3.1 + rng.uniform(0, 6.3)) + rng.uniform(-0.04, 0.02)
    edge = np.minimum(edge, -0.2)
    inside = (b >= edge) & (np.abs(a) <= 2.6)
    fuzz = value_noise(a.shape, unit * 0.01, rng, 1) * 0.02
    alpha = np.clip((b - edge + fuzz) * unit, 0, 1).astype(np.float32) * inside
    rgb = _fabric_texture(a, b, unit, rng)
    phase = rng.uniform(0, 6.3)
    folds = 0.82 + 0.18 * np.sin((a * 2.2 + (b - edge) * 1.2) * 2.4 + phase)
    rim = 1.0 - 0.25 * np.exp(-((b - edge) / 0.06) ** 2)  # the rolled top edge casts a line
    return np.clip(rgb * (folds * rim)[..., None], 0, 255), alpha


_DRAWERS = {"hand": _hand, "phone": _phone, "cup": _cup, "scarf": _scarf}


# ---------------------------------------------------------------- compositing


def prepare(face_rgb: np.ndarray, geometry: FaceGeometry | None, rng) -> tuple:
    """What every drawing over a face starts from: the face checked (H×W×3 uint8 RGB), its
    geometry (the typical layout when None), a generator, and the drawing unit in pixels."""
    face = np.asarray(face_rgb)
    if face.ndim != 3 or face.shape[2] != 3 or face.dtype != np.uint8:
        raise ValueError(f"face must be an H×W×3 uint8 RGB image, got {face.shape} {face.dtype}")
    geo = geometry or FaceGeometry.typical(face.shape[1], face.shape[0])
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return face, geo, rng, max(geo.eye_distance, MIN_UNIT_PX)


def occlude(
    face_rgb: np.ndarray,
    kind: str,
    geometry: FaceGeometry | None = None,
    rng: np.random.Generator | int | None = None,
) -> Occlusion:
    """Draw a `kind` object (see OCCLUDERS) over the mouth and nose of `face_rgb` (H×W×3 uint8
    RGB). `geometry` None assumes a tight face crop (typical layout)."""
    if kind not in _DRAWERS:
        raise ValueError(f"unknown occluder {kind!r}; choose from {', '.join(OCCLUDERS)}")
    face, geo, rng, unit = prepare(face_rgb, geometry, rng)
    h, w = face.shape[:2]
    size = int(np.ceil((2 * A_SPAN) * unit))
    size_b = int(np.ceil((B_TOP + B_BOTTOM) * unit))
    side = max(size, size_b)
    a, b = _grid(side, unit)
    mouth_b = float(np.clip(geo.to_local(geo.mouth)[1], 0.2, 1.0))
    colour, alpha = _DRAWERS[kind](a, b, unit, mouth_b, rng)

    # canvas pixel (cx, cy) → image: nose + (cx − A_SPAN·unit)·u + (cy − B_TOP·unit)·v
    u, v = geo.axes()
    origin = geo.nose - A_SPAN * unit * u - B_TOP * unit * v
    m = np.array([[u[0], v[0], origin[0]], [u[1], v[1], origin[1]]], np.float32)
    warp = dict(dsize=(w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    layer = cv2.warpAffine(colour.astype(np.float32), m, **warp)
    cover = cv2.warpAffine(alpha.astype(np.float32), m, **warp)
    cover = np.clip(cv2.GaussianBlur(cover, (0, 0), 0.6), 0, 1)

    # a soft shadow below and beside the object darkens the skin it does not cover
    off = np.float32([[1, 0, 0.08 * unit], [0, 1, 0.12 * unit]])
    shadow = cv2.GaussianBlur(cv2.warpAffine(cover, off, (w, h)), (0, 0), max(1.0, 0.12 * unit))
    base = face.astype(np.float32) * (1 - 0.35 * (shadow * (1 - cover)))[..., None]
    out = base * (1 - cover[..., None]) + layer * cover[..., None]
    return Occlusion(np.clip(np.round(out), 0, 255).astype(np.uint8), cover.astype(np.float32), kind)
