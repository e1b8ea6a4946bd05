"""Decoding images the way users' files come, and shaping faces for the classifier.

One place decides how a face becomes a 224×224 input, so that training, evaluation, photos and
the live pipeline all see faces prepared identically."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

INPUT_SIZE = 224
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Larger than any camera photo (a 100 MP sensor) but far below a decompression bomb.
MAX_PIXELS = 120_000_000
MAX_BYTES = 200 * 1024 * 1024
# What a decoded image may hold at most: no face detector needs more, and an image that claims
# more is decoded at reduced size (JPEG: by the decoder itself, so the full size is never held).
DECODE_MAX_PIXELS = 25_000_000
# A non-JPEG image whose pixels outnumber its bytes this many times is a decompression bomb, not a
# photo: real photos store 1–10 pixels a byte; decoding it would allocate ~3 bytes a pixel.
MAX_PIXELS_PER_BYTE = 200


class ImageError(ValueError):
    """A file that cannot be used as an image; `str()` is a message for the user."""


def load_rgb(source: str | Path | bytes | BinaryIO, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode to an H×W×3 uint8 RGB array: EXIF orientation applied; grayscale, palette,
    alpha, CMYK and 16-bit converted; animated images give their first frame.
    Raises ImageError with a readable reason for anything unusable."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise ImageError("empty file (0 bytes)")
        fp: BinaryIO = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc
        if size == 0:
            raise ImageError("empty file (0 bytes)")
        if size > MAX_BYTES:
            raise ImageError(f"file too large ({size / 1e6:.0f} MB; limit {MAX_BYTES / 1e6:.0f} MB)")
        try:  # readable metadata does not make a readable file (permissions, a vanished file)
            fp = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ImageError(f"cannot read file: {exc.strerror or exc}") from exc
    else:
        fp = source
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89.5 MP; the limit here is max_pixels (checked below), so a real
            # 100 MP photo is accepted and decoded at reduced size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                img = Image.open(fp)
            except UnidentifiedImageError as exc:
                raise ImageError("not an image (unrecognised format)") from exc
            except Image.DecompressionBombError as exc:
                raise ImageError(f"image too large: its header declares over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                                 "million pixels, more than any camera takes (a decompression bomb); "
                                 "refused before decoding") from exc
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"image too large ({w}×{h} pixels; limit {max_pixels / 1e6:.0f} MP)")
            if w == 0 or h == 0:
                raise ImageError("image has no pixels")
            _refuse_bombs(img, fp)
            try:
                img.seek(0)  # animated GIF/WebP/PNG: the first frame
                if img.format == "JPEG" and w * h > DECODE_MAX_PIXELS:
                    # decode at 1/2, 1/4 or 1/8 scale: a small file claiming 81 MP never becomes 81 MP
                    img.draft("RGB", _fit(w, h, DECODE_MAX_PIXELS))
                img.load()
                img = ImageOps.exif_transpose(img)
                if img.width * img.height > DECODE_MAX_PIXELS:
                    img = img.reduce(_factor(img.width, img.height, DECODE_MAX_PIXELS))
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                raise ImageError(f"corrupt or truncated image ({exc})") from exc
            return _to_rgb8(img)
    except ImageError:
        raise
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot decode image ({exc})") from exc
    finally:
        if isinstance(source, (str, Path)):
            fp.close()


def _fit(w: int, h: int, max_pixels: int) -> tuple[int, int]:
    scale = (max_pixels / (w * h)) ** 0.5
    return max(1, int(w * scale)), max(1, int(h * scale))


def _factor(w: int, h: int, max_pixels: int) -> int:
    """The smallest integer reduction that brings w×h under max_pixels."""
    f = 1
    while (w // f) * (h // f) > max_pixels:
        f += 1
    return f


def _refuse_bombs(img: Image.Image, fp: BinaryIO) -> None:
    """A JPEG is decoded at reduced size, so its claim costs little; any other format decodes in
    full, so refuse one whose claimed pixels are far out of proportion to its bytes."""
    if img.format == "JPEG":
        return
    w, h = img.size
    if w * h <= DECODE_MAX_PIXELS // 4:
        return
    try:
        pos = fp.tell()
        fp.seek(0, io.SEEK_END)
        nbytes = fp.tell()
        fp.seek(pos)
    except (OSError, AttributeError, ValueError):
        return
    if nbytes and w * h / nbytes > MAX_PIXELS_PER_BYTE:
        raise ImageError(f"image too large for its file: {w}×{h} pixels in {nbytes:,} bytes "
                         "(a decompression bomb, not a photo)")


def _to_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.nan_to_num(np.asarray(img).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(arr.max(initial=0))
        # a float image ("F") usually holds 0–1; 16-bit and 32-bit integers their own range
        top = 1.0 if mode == "F" and peak <= 1.0 else 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
        gray = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(canvas, rgba)
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area filter to shrink (no aliasing), linear to enlarge."""
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interp)


def to_input(face_rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A face image → the classifier's size×size×3 uint8 input."""
    if face_rgb.shape[0] == size and face_rgb.shape[1] == size:
        return face_rgb
    return resize(face_rgb, size, size)


def shrink(face_rgb: np.ndarray, width: int, size: int = INPUT_SIZE) -> np.ndarray:
    """A face as if it were `width` px wide: resized to width×width (area filter when shrinking)
    and enlarged back to size×size — what a far-away face gives the classifier."""
    h, w = face_rgb.shape[:2]
    interp = cv2.INTER_AREA if width * width < w * h else cv2.INTER_LINEAR
    small = cv2.resize(face_rgb, (width, width), interpolation=interp)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def square_box(
    box: tuple[float, float, float, float], frame_w: int, frame_h: int, margin: float = 0.2
) -> tuple[int, int, int, int]:
    """A square around a face box, `margin` of its longer side added in all, clamped to the frame."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (1 + margin) / 2
    sx1 = int(round(max(0.0, cx - half)))
    sy1 = int(round(max(0.0, cy - half)))
    sx2 = int(round(min(float(frame_w), cx + half)))
    sy2 = int(round(min(float(frame_h), cy + half)))
    return sx1, sy1, max(sx2, sx1 + 1), max(sy2, sy1 + 1)


def crop_face(
    frame_rgb: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.2,
    size: int = INPUT_SIZE,
) -> np.ndarray:
    """Cut a face out of a frame exactly as for training: square + margin, clamped, resized."""
    h, w = frame_rgb.shape[:2]
    x1, y1, x2, y2 = square_box(box, w, h, margin)
    return to_input(frame_rgb[y1:y2, x1:x2], size)
