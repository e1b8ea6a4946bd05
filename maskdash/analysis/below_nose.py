"""A face mask drawn worn wrongly — pulled below the nose — for the `below_nose` study.

The study's own generator, kept apart from any training augmentation: a model must not have
learnt from the very drawing it is measured on. Like `analysis.occluders`, the mask is drawn with
NumPy/OpenCV in a local canvas whose unit is the inter-eye distance and whose origin is the nose
tip (`FaceGeometry`), then warped onto the face with one affine map, so it follows the face's
landmarks, scale and roll.

Two variants:
- `mouth_chin` — the mask's top edge sits between the nose tip and the mouth: the nose (tip and
  nostrils) stays visible, mouth and chin are covered (the commonest way of wearing it wrong);
- `chin` — the mask is pulled down onto the chin: the mouth is visible too.

Nothing is drawn above the top edge (no shadow is cast upwards), so the nose-tip pixels are the
face's own."""

from __future__ import annotations

import cv2
import numpy as np

from maskdash.analysis.occluders import A_SPAN, B_TOP, FaceGeometry, Occlusion, _grid, prepare, value_noise

VARIANTS: tuple[str, ...] = ("mouth_chin", "chin")
VARIANT_TITLES = {
    "mouth_chin": "mask below the nose, over mouth and chin",
    "chin": "mask pulled down onto the chin",
}
NOSE_CLEARANCE = 0.15  # the top edge stays at least this far below the nose tip (units of eye distance)

# surgical blue, white, black cloth, grey cloth, a pale FFP2
MASK_COLOURS = np.array([[168, 200, 228], [236, 238, 240], [38, 38, 42], [120, 122, 128], [226, 224, 212]],
                        np.float32)


def _top_edge(variant: str, mouth_b: float) -> float:
    """The mask's top edge below the nose tip, in units of the inter-eye distance."""
    if variant == "mouth_chin":  # between nose and mouth, closer to the nose; the mouth well covered
        return float(np.clip(0.45 * mouth_b, NOSE_CLEARANCE + 0.05, 0.3))
    return mouth_b + 0.25  # below the lower lip


def _mask(a, b, unit, mouth_b, variant, rng):
    """(colour, alpha) of the mask in the local canvas: a band around the lower face, narrower
    at the chin, with pleats (surgical) or a plain weave (cloth), curved shading, and ear loops."""
    top = _top_edge(variant, mouth_b) + rng.uniform(0.0, 0.03)
    bottom = max(mouth_b + 0.75, top + 0.45) + rng.uniform(-0.03, 0.05)
    half_top = rng.uniform(1.0, 1.1)
    half_bottom = 0.55 * half_top
    t = np.clip((b - top) / max(bottom - 0.25 - top, 1e-3), 0, 1)
    half = half_top + (half_bottom - half_top) * t ** 1.5  # the jaw narrows towards the chin
    # the bottom edge is rounded: an ellipse cap under the chin
    cap = ((a / half_bottom) ** 2 + ((b - (bottom - 0.25)) / 0.25) ** 2 <= 1) & (b > bottom - 0.25)
    body = (b >= top) & (((b <= bottom - 0.25) & (np.abs(a) <= half)) | cap)
    colour = MASK_COLOURS[rng.integers(0, len(MASK_COLOURS))] * rng.uniform(0.92, 1.04)
    across = np.clip(a / np.maximum(half, 1e-3), -1, 1)
    shade = 0.72 + 0.28 * np.sqrt(1 - across ** 2)  # the mask wraps around the face
    surgical = rng.random() < 0.6
    if surgical:  # three pleats: a light fold and a dark crease each
        span = bottom - top
        for k in range(3):
            y = top + span * (0.22 + 0.24 * k)
            shade -= 0.12 * np.exp(-((b - y) / 0.025) ** 2)
            shade += 0.08 * np.exp(-((b - y - 0.05) / 0.04) ** 2)
        shade -= 0.1 * np.exp(-((b - top) / 0.03) ** 2)  # the bound top edge
        texture = value_noise(a.shape, unit * 0.05, rng, 2) * 0.025
    else:  # cloth: a fine weave and soft fuzz
        texture = (value_noise(a.shape, unit * 0.02, rng, 2) * 0.05
                   + 0.03 * np.sign(np.sin((a + b) * unit * np.pi / 1.5)))
    alpha = body.astype(np.float32)
    rgb = colour[None, None, :] * (shade + texture)[..., None]
    # ear loops from the top corners outwards and up, towards the ears (thin, never near the nose)
    loop_colour = colour * 0.9
    for side in (-1.0, 1.0):
        x0, y0 = side * half_top, top + 0.05
        x1, y1 = side * (half_top + 0.55), top - 0.45
        d = np.array([x1 - x0, y1 - y0], np.float32)
        tt = np.clip(((a - x0) * d[0] + (b - y0) * d[1]) / float(d @ d), 0, 1)
        dist = np.hypot(a - (x0 + tt * d[0]), b - (y0 + tt * d[1]))
        loop = (dist < max(0.02, 1.2 / unit)) & ~body
        alpha[loop] = 1
        rgb[loop] = loop_colour
    return np.clip(rgb, 0, 255), alpha


def mask_below_nose(
    face_rgb: np.ndarray,
    variant: str = "mouth_chin",
    geometry: FaceGeometry | None = None,
    rng: np.random.Generator | int | None = None,
) -> Occlusion:
    """Draw a mask worn below the nose (`variant` in VARIANTS) on `face_rgb` (H×W×3 uint8 RGB).
    `geometry` None assumes a tight face crop (the typical landmark layout). → Occlusion with the
    image and the mask's coverage (alpha); `kind` is "mask_<variant>"."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    face, geo, rng, unit = prepare(face_rgb, geometry, rng)
    h, w = face.shape[:2]
    side = int(np.ceil(2 * A_SPAN * unit))
    a, b = _grid(side, unit)
    mouth_b = float(np.clip(geo.to_local(geo.mouth)[1], 0.25, 1.0))
    colour, alpha = _mask(a, b, unit, mouth_b, variant, rng)

    u, v = geo.axes()  # canvas pixel (cx, cy) → nose + (cx − A_SPAN·unit)·u + (cy − B_TOP·unit)·v
    origin = geo.nose - A_SPAN * unit * u - B_TOP * unit * v
    m = np.array([[u[0], v[0], origin[0]], [u[1], v[1], origin[1]]], np.float32)
    warp = dict(dsize=(w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    layer = cv2.warpAffine(colour.astype(np.float32), m, **warp)
    cover = cv2.warpAffine(alpha.astype(np.float32), m, **warp)
    cover = np.clip(cv2.GaussianBlur(cover, (0, 0), 0.6), 0, 1)
    cover[cover < 1e-3] = 0  # the blur's far tail: leave those pixels exactly as they were
    out = face.astype(np.float32) * (1 - cover[..., None]) + layer * cover[..., None]
    return Occlusion(np.clip(np.round(out), 0, 255).astype(np.uint8), cover.astype(np.float32), f"mask_{variant}")
