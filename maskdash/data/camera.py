"""A camera model for dim webcams: what a dark room does to a face is not a darker image but a
webcam's answer to too little light — high gain (so shot and read noise), a colour cast from the
lamp, a small face in a 240–480 px frame, motion blur from long exposures and heavy compression.

Used twice, apart: `low_light` with random settings augments training views, and `probe_view`
with fixed settings per `LEVELS` builds the dim-webcam probe (`python -m maskdash evaluate --probes`, `python -m maskdash validate`)."""

from __future__ import annotations

import cv2
import numpy as np

# darkness level → share of a well-lit scene's light that reaches the sensor
LEVELS: dict[str, float] = {"dim": 0.25, "dark": 0.1, "very dark": 0.04}
FULL_WELL = 800.0  # electrons at white for a small webcam pixel: little light means few photons


def _to_linear(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) / 255.0) ** 2.2


def _to_srgb(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def _motion_blur(img: np.ndarray, length: int, angle: float) -> np.ndarray:
    if length < 2:
        return img
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    m = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    k = cv2.warpAffine(k, m, (length, length))
    return cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, enc = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1]) if ok else img


def render(img: np.ndarray, rng: np.random.Generator, light: float, face_px: int, cast: np.ndarray,
           gain_share: float, read_noise: float, blur: int, quality: int) -> np.ndarray:
    """One face (H×W×3 uint8 RGB) as the webcam would deliver it, at the input's size.
    light: share of the scene's light; face_px: the face's size on the sensor; cast: per-channel
    gain of the lamp; gain_share: how much of the missing light the auto gain makes up (0–1)."""
    size = img.shape[:2][::-1]
    small = cv2.resize(img, (face_px, face_px), interpolation=cv2.INTER_AREA)
    x = _to_linear(small) * cast[None, None, :] * light
    electrons = rng.poisson(np.clip(x, 0, None) * FULL_WELL).astype(np.float32)
    electrons += rng.normal(0, read_noise, electrons.shape).astype(np.float32)
    gain = (1.0 / light) ** gain_share  # auto exposure: brighter, and the noise with it
    y = electrons / FULL_WELL * gain
    out = _to_srgb(y)
    out = _motion_blur(out, blur, float(rng.uniform(0, 180)))
    out = _jpeg(out, quality)
    return cv2.resize(out, size, interpolation=cv2.INTER_LINEAR)


DARKEST = 0.03  # training's dim views: light drawn log-uniformly from DARKEST to `brightest`
BRIGHTEST = 0.5


def low_light(img: np.ndarray, rng: np.random.Generator, brightest: float = BRIGHTEST) -> np.ndarray:
    """A random dim-webcam view for training."""
    light = float(np.exp(rng.uniform(np.log(DARKEST), np.log(max(brightest, DARKEST)))))
    cast = np.array([1.0, rng.uniform(0.75, 1.05), rng.uniform(0.5, 1.1)], np.float32)
    if rng.random() < 0.3:  # a cold screen or a window rather than a lamp
        cast = cast[::-1].copy()
    return render(img, rng, light, int(rng.integers(28, 120)), cast, float(rng.uniform(0.5, 1.0)),
                  float(rng.uniform(1.0, 6.0)), int(rng.integers(0, 6)), int(rng.integers(15, 60)))


def probe_view(img: np.ndarray, level: str, seed: int) -> np.ndarray:
    """The probe's fixed rendering of one face at a named darkness level (`LEVELS`): a warm lamp,
    a 64 px face, an auto gain that makes up 60 % of the missing light (in log terms), a little motion blur, webcam-grade compression."""
    rng = np.random.default_rng(seed)
    cast = np.array([1.0, 0.9, 0.7], np.float32)
    return render(img, rng, LEVELS[level], 64, cast, 0.6, 3.0, 3, 35)
