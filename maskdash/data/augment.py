"""Training-time image augmentation (NumPy/OpenCV, one 224×224 uint8 RGB face at a time).

`robust` attacks the data set's shortcuts: unmasked faces in Face Mask 12K are small, soft,
frontal CelebA crops and masked ones are sharp web photos, so every face is randomly reduced to
as little as ~20 px and enlarged again, and pose, light, blur, compression and a hand over the
mouth (still "without mask") are varied. `seed` is the original's brightness-only augmentation."""

from __future__ import annotations

import cv2
import numpy as np

from maskdash.data import camera

SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 165], [224, 172, 138], [198, 134, 96], [141, 85, 54], [94, 58, 38]],
    np.float32,
)


def brightness(img: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def seed_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return brightness(img, rng.uniform(0.6, 1.4))


def random_resolution(img: np.ndarray, rng: np.random.Generator, low: int = 20, high: int = 160) -> np.ndarray:
    """Shrink to a random width (log-uniform) and enlarge back: a far-away face."""
    size = img.shape[0]
    w = int(np.exp(rng.uniform(np.log(low), np.log(high))))
    small = cv2.resize(img, (w, w), interpolation=cv2.INTER_AREA)
    interp = [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST][rng.integers(0, 3) if rng.random() < 0.3 else 0]
    return cv2.resize(small, (size, size), interpolation=interp)


def geometry(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small rotation, zoom and shift, as a detector's box would vary."""
    size = img.shape[0]
    angle = rng.uniform(-15, 15)
    scale = rng.uniform(0.9, 1.2)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += rng.uniform(-0.06, 0.06, 2) * size
    out = cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REFLECT_101)
    return out[:, ::-1] if rng.random() < 0.5 else out


def grey(images: np.ndarray) -> np.ndarray:
    """Faces (any leading shape, ×3 RGB uint8) in black and white, still three channels: CCTV, an
    infrared night mode, a black-and-white print (ITU-R BT.601 luma, as most cameras compute it)."""
    luma = np.round(images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return np.repeat(luma.astype(np.uint8)[..., None], 3, axis=-1)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32)
    x = x * rng.uniform(0.4, 1.6)  # brightness
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.6, 1.4) + mean  # contrast
    gray = x.mean(axis=2, keepdims=True)
    sat = 0.0 if rng.random() < 0.05 else rng.uniform(0.6, 1.4)
    x = gray + (x - gray) * sat
    x = x * rng.uniform(0.9, 1.1, 3)  # colour cast of the light
    return np.clip(x, 0, 255).astype(np.uint8)


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    if rng.random() < 0.3:
        ok, enc = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        if ok:
            img = np.ascontiguousarray(cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1])
    if rng.random() < 0.15:
        noise = rng.normal(0, rng.uniform(2, 10), img.shape)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img


def hand_over_mouth(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A skin-toned, shaded hand-like blob over the mouth only (the nose stays visible, as it
    would not with a mask) — teaches that covering the mouth is not wearing a mask."""
    size = img.shape[0]
    out = img.copy()
    mask = np.zeros((size, size), np.uint8)
    cx = int(size * rng.uniform(0.4, 0.6))
    cy = int(size * rng.uniform(0.72, 0.82))
    ax, ay = int(size * rng.uniform(0.15, 0.28)), int(size * rng.uniform(0.08, 0.14))
    cv2.ellipse(mask, (cx, cy), (ax, ay), rng.uniform(-25, 25), 0, 360, 255, -1)
    for _ in range(int(rng.integers(2, 5))):  # fingers
        fx = cx + int(rng.uniform(-ax, ax))
        cv2.ellipse(mask, (fx, cy - ay // 2), (max(3, ax // 5), ay), rng.uniform(-30, 30), 0, 360, 255, -1)
    tone = SKIN_TONES[rng.integers(0, len(SKIN_TONES))] * rng.uniform(0.7, 1.1)
    yy, _ = np.mgrid[0:size, 0:size]
    shade = 1.0 - 0.25 * (yy - cy) / max(ay, 1) * rng.uniform(-1, 1)
    layer = np.clip(tone[None, None, :] * shade[..., None] + rng.normal(0, 6, (size, size, 3)), 0, 255)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 2.0)[..., None]
    out = (out.astype(np.float32) * (1 - alpha) + layer * alpha).astype(np.uint8)
    return out


def _skin_of(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face's own skin colour, shifted a little: a hand held to the face is the person's skin
    under slightly different light. Taken from both cheeks beside the nose, the mean of
    the 40th–80th percentiles of brightness, so shadow, beard and stray hair do not make the hand darker."""
    size = img.shape[0]
    band = np.concatenate([img[int(size * 0.42) : int(size * 0.56), int(size * 0.22) : int(size * 0.36)],
                           img[int(size * 0.42) : int(size * 0.56), int(size * 0.64) : int(size * 0.78)]], 1)
    px = band.reshape(-1, 3).astype(np.float32)
    if not len(px):
        return SKIN_TONES[int(rng.integers(0, len(SKIN_TONES)))]
    order = np.argsort(px @ np.array([0.299, 0.587, 0.114], np.float32))
    tone = px[order[int(0.4 * len(px)) : max(int(0.4 * len(px)) + 1, int(0.8 * len(px)))]].mean(axis=0)
    return np.clip(tone * rng.uniform(0.92, 1.08, 3) * rng.uniform(0.9, 1.15), 0, 255)


def fingers_over_face(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hand at the mouth for training: 3–5 touching fingers (round-ended rods, shaded as
    cylinders so the gaps between them are dark) and the palm at their root, in the face's own
    skin, at any angle (across the mouth, up from below as in a yawn, or slanted), over the mouth
    and often the nose. Written apart from the failure study's drawn hand
    (`maskdash.analysis.occluders`: a fixed horizontal layout in stock skin tones, with nails,
    knuckles and a thumb), which stays held out to measure whether this transfers."""
    size = img.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    pick = rng.random()
    if pick < 0.45:  # across the mouth, fingers pointing to one side
        angle = rng.uniform(-25, 25) + (180 if rng.random() < 0.5 else 0)
    elif pick < 0.8:  # up from below (a yawn, a hand over the mouth)
        angle = -90 + rng.uniform(-25, 25)
    else:
        angle = -90 + rng.choice([-1, 1]) * rng.uniform(30, 60)  # slanted up from below
    t = np.deg2rad(angle)
    along, across = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
    n = int(rng.integers(3, 6))
    r = size * rng.uniform(0.04, 0.06)  # finger radius
    length = size * rng.uniform(0.3, 0.5)
    cx, cy = size * rng.uniform(0.38, 0.62), size * (rng.uniform(0.6, 0.68) if rng.random() < 0.6
                                                      else rng.uniform(0.72, 0.8))
    alpha = np.zeros((size, size), np.float32)
    shade = np.ones((size, size), np.float32)
    offsets = (np.arange(n) - (n - 1) / 2) * 1.9 * r
    for off in offsets:
        mid = np.array([cx, cy]) + across * off
        half = length * rng.uniform(0.8, 1.1) / 2
        p0, p1 = mid - along * half, mid + along * half
        seg = p1 - p0
        s = np.clip(((xx - p0[0]) * seg[0] + (yy - p0[1]) * seg[1]) / float(seg @ seg), 0, 1)
        d = np.hypot(xx - (p0[0] + s * seg[0]), yy - (p0[1] + s * seg[1]))
        inside = d < r
        alpha[inside] = 1
        shade[inside] = 0.65 + 0.45 * np.sqrt(1 - (d[inside] / r) ** 2)
    # the palm, at the fingers' root (often partly outside the crop)
    root = np.array([cx, cy]) - along * length * rng.uniform(0.75, 1.0)
    pr = (n * 1.9 * r) * rng.uniform(0.55, 0.75)
    pd = np.hypot(xx - root[0], yy - root[1])
    palm = (pd < pr) & (alpha == 0)
    alpha[palm] = 1
    shade[palm] = 1.0 - 0.2 * pd[palm] / pr
    layer = _skin_of(img, rng)[None, None, :] * shade[..., None]
    layer = np.clip(layer + rng.normal(0, 3, layer.shape), 0, 255)
    return _paste(img, layer, alpha, rng)


def _random_shape(size: int, rng: np.random.Generator, cx: float, cy: float, w: float, h: float) -> np.ndarray:
    """A filled 0/1 mask of one of several outlines (ellipse, rotated box, convex polygon, palm
    with fingers) centred at (cx, cy), about w×h px."""
    m = np.zeros((size, size), np.uint8)
    kind = int(rng.integers(0, 4))
    centre = (int(cx), int(cy))
    if kind == 0:
        cv2.ellipse(m, centre, (max(2, int(w / 2)), max(2, int(h / 2))), rng.uniform(-30, 30), 0, 360, 1, -1)
    elif kind == 1:
        pts = cv2.boxPoints(((cx, cy), (w, h), rng.uniform(-30, 30)))
        cv2.fillConvexPoly(m, pts.astype(np.int32), 1)
    elif kind == 2:
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.6, 1.0, n)
        pts = np.stack([cx + np.cos(ang) * rad * w / 2, cy + np.sin(ang) * rad * h / 2], 1)
        cv2.fillConvexPoly(m, cv2.convexHull(pts.astype(np.int32)), 1)
    else:
        cv2.ellipse(m, centre, (max(2, int(w / 2)), max(2, int(h / 3))), rng.uniform(-20, 20), 0, 360, 1, -1)
        tilt = rng.uniform(-0.6, 0.6)
        thick = max(2, int(w / rng.uniform(6, 9)))
        for k in range(int(rng.integers(3, 6))):
            x0 = cx - w / 2.6 + k * w / 5.5
            length = h * rng.uniform(0.5, 0.9)
            x1, y1 = x0 + np.sin(tilt) * length, cy - np.cos(tilt) * length
            cv2.line(m, (int(x0), int(cy)), (int(x1), int(y1)), 1, thick)
    return m.astype(np.float32)


def _paste(img: np.ndarray, layer: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    alpha = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.7, 3.0))[..., None]
    size = img.shape[0]
    yy = np.linspace(-1, 1, size)[:, None, None]
    shade = 1.0 + rng.uniform(-0.25, 0.25) * yy  # light from above or below
    layer = np.clip(layer.astype(np.float32) * shade * rng.uniform(0.6, 1.2), 0, 255)
    return (img.astype(np.float32) * (1 - alpha) + layer * alpha).astype(np.uint8)


def _texture(
    img: np.ndarray, rng: np.random.Generator, backgrounds: list[np.ndarray] | None
) -> tuple[np.ndarray, bool]:
    """A full-size texture layer and whether it is skin: a real photo patch (when there are any)
    or the face's own skin (forehead/cheek, as a hand held to the face would look)."""
    size = img.shape[0]
    if backgrounds and rng.random() < 0.55:
        patch = backgrounds[int(rng.integers(0, len(backgrounds)))]
        patch, skin = np.rot90(patch, int(rng.integers(0, 4))), False
    else:
        y0, x0 = rng.uniform(0.12, 0.3), rng.uniform(0.25, 0.5)
        patch = img[int(y0 * size) : int((y0 + 0.15) * size), int(x0 * size) : int((x0 + 0.25) * size)]
        skin = True
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=cv2.INTER_LINEAR), skin


def object_over_face(img: np.ndarray, rng: np.random.Generator, backgrounds: list[np.ndarray] | None = None) -> np.ndarray:
    """Something that is not a mask over the mouth — often the nose too: a real photo patch or the
    face's own skin, in one of several outlines. Deliberately unlike the failure study's drawn
    hand/phone/cup/scarf (`maskdash.analysis.occluders`), which stays held out to measure whether this
    transfers. Objects that are not skin stay narrower than a mask (at most ~55 % of the crop,
    a mask spans cheek to cheek), so a plain-coloured mask is never taught as "no mask"."""
    size = img.shape[0]
    layer, skin = _texture(img, rng, backgrounds)
    w = size * (rng.uniform(0.3, 0.75) if skin else rng.uniform(0.22, 0.5))
    top = rng.uniform(0.5, 0.75)  # 0.5: covers the nose; 0.75: the mouth only
    bottom = rng.uniform(0.85, 1.05)
    cx = size * rng.uniform(0.38, 0.62)
    cy = size * (top + bottom) / 2
    mask = _random_shape(size, rng, cx, cy, w, size * (bottom - top))
    return _paste(img, layer, mask, rng)


def distractor(img: np.ndarray, rng: np.random.Generator, backgrounds: list[np.ndarray] | None = None) -> np.ndarray:
    """The same kind of pasted object away from the nose and mouth (a hat, hair, a shoulder or
    another head at the edge) for BOTH classes, so a pasted edge alone is no clue to the label."""
    size = img.shape[0]
    side = int(rng.integers(0, 3))
    w, h = size * rng.uniform(0.2, 0.5), size * rng.uniform(0.15, 0.35)
    if side == 0:  # top band
        cx, cy = size * rng.uniform(0.2, 0.8), size * rng.uniform(0.0, 0.2)
    else:  # left or right edge
        cx = size * (rng.uniform(0.0, 0.12) if side == 1 else rng.uniform(0.88, 1.0))
        cy = size * rng.uniform(0.2, 0.9)
    mask = _random_shape(size, rng, cx, cy, w, h)
    return _paste(img, _texture(img, rng, backgrounds)[0], mask, rng)


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What distance, light and the camera do to a face: resolution, photometry, blur/JPEG/noise."""
    if rng.random() < 0.7:
        img = random_resolution(img, rng)
    img = photometric(img, rng)
    return degrade(img, rng)


LOW_LIGHT_P = 0.15  # views through the dim-webcam camera model instead of the ordinary one


def robust_augment(img: np.ndarray, rng: np.random.Generator, label: int,
                   low_light_p: float = LOW_LIGHT_P, low_light_max: float = camera.BRIGHTEST) -> np.ndarray:
    """`label` is 0 for with_mask, 1 for without_mask, 2 for mask_incorrect."""
    img = geometry(img, rng)
    if label == 1 and rng.random() < 0.12:
        img = hand_over_mouth(img, rng)
    if rng.random() < low_light_p:
        return camera.low_light(img, rng, low_light_max)
    return _camera(img, rng)


def online_augment(
    img: np.ndarray, rng: np.random.Generator, label: int, backgrounds: list[np.ndarray] | None = None,
    cover_p: float = 0.25, distract_p: float = 0.15, low_light_p: float = LOW_LIGHT_P,
    low_light_max: float = camera.BRIGHTEST,
) -> np.ndarray:
    """The robust views plus non-mask objects over unmasked mouths and distractors on every face
    (used by the online trainer, which draws new views every epoch)."""
    if label == 1 and rng.random() < cover_p:
        pick = rng.random()
        if pick < 0.45:
            img = object_over_face(img, rng, backgrounds)
        elif pick < 0.8:
            img = fingers_over_face(img, rng)
        else:
            img = hand_over_mouth(img, rng)
    if rng.random() < distract_p:
        img = distractor(img, rng, backgrounds)
    img = geometry(img, rng)
    if rng.random() < low_light_p:
        return camera.low_light(img, rng, low_light_max)
    return _camera(img, rng)
