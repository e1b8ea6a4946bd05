"""Training-time image augmentation (NumPy/OpenCV, one 224×224 uint8 RGB face at a time).

`robust` attacks the data set's shortcuts: unmasked faces in Face Mask 12K are small, soft,
frontal CelebA crops and masked ones are sharp web photos, so every face is randomly reduced to
as little as ~20 px and enlarged again, and pose, light, blur, compression and a hand over the
mouth (still "without mask") are varied. `seed` is the original's brightness-only augmentation."""

from __future__ import annotations

import cv2
import numpy as np

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


def robust_augment(img: np.ndarray, rng: np.random.Generator, label: int) -> np.ndarray:
    """`label` is 0 for with_mask, 1 for without_mask."""
    img = geometry(img, rng)
    if label == 1 and rng.random() < 0.12:
        img = hand_over_mouth(img, rng)
    if rng.random() < 0.7:
        img = random_resolution(img, rng)
    img = photometric(img, rng)
    return degrade(img, rng)
