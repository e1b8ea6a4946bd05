"""One uploaded photo → faces, verdicts, an annotated copy and CSV rows (the Photos page).

Lives outside the page so that every kind of bad upload can be tested directly: whatever the
bytes are, `process_upload` returns a PhotoResult or a PhotoError with a message for the user,
never raises."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from maskdash.inference.draw import annotate
from maskdash.inference.faces import SCENE_COLUMNS, FaceVerdict, find_faces
from maskdash.imaging import ImageError, load_rgb, resize

log = logging.getLogger(__name__)

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
DISPLAY_MAX_SIDE = 1600  # what a page shows; downloads keep full resolution


@dataclass
class PhotoResult:
    name: str
    rgb: np.ndarray  # the decoded photo, RGB uint8
    faces: list[FaceVerdict]
    notes: list[str] = field(default_factory=list)  # conversions worth telling the user about
    size: tuple[int, int] = (0, 0)  # (width, height) of the photo as decoded

    def __post_init__(self) -> None:
        if self.size == (0, 0):
            self.size = (self.rgb.shape[1], self.rgb.shape[0])

    def annotated(self) -> np.ndarray:
        return annotate(self.rgb, self.faces)

    def rows(self) -> list[dict]:
        """Rows of `predict`'s scene-mode CSV (path = the uploaded file's name)."""
        return [f.row(self.name) for f in self.faces]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows(), columns=SCENE_COLUMNS)


@dataclass
class PhotoError:
    name: str
    message: str


def _describe(data: bytes) -> list[str]:
    """Notes on what decoding had to change (first frame of an animation, CMYK, 16 bits).
    Only reads the header; failures here are left to load_rgb to report."""
    notes = []
    try:
        with Image.open(io.BytesIO(data)) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                notes.append(f"animated image ({frames} frames): only the first frame was analysed")
            if img.mode == "CMYK":
                notes.append("CMYK colours were converted to RGB")
            if img.mode.startswith("I;16") or img.mode in ("I", "F"):
                notes.append("16-bit image reduced to 8 bits per channel")
    except Exception:  # noqa: BLE001 - a header we cannot read is load_rgb's to explain
        pass
    return notes


def process_upload(name: str, data: bytes, detector, classifier, det_threshold: float | None = None,
                   mask_threshold: float = 0.5) -> PhotoResult | PhotoError:
    """Decode (EXIF orientation honoured), detect, classify. Any failure → PhotoError."""
    try:
        rgb = load_rgb(bytes(data))
    except ImageError as exc:
        return PhotoError(name, f"cannot use this file: {exc}")
    except MemoryError:
        return PhotoError(name, "cannot use this file: not enough memory to decode it")
    try:
        faces = find_faces(rgb, detector, classifier, det_threshold, mask_threshold)
    except (cv2.error, ValueError, RuntimeError, MemoryError) as exc:
        log.exception("face search failed for %s", name)
        return PhotoError(name, f"the face search failed on this image ({type(exc).__name__}: {exc})")
    return PhotoResult(name, rgb, faces, _describe(data))


def results_csv(results: list[PhotoResult]) -> str:
    """All photos' faces in one CSV with the columns of `predict` scene mode."""
    rows = [r for res in results for r in res.rows()]
    return pd.DataFrame(rows, columns=SCENE_COLUMNS).to_csv(index=False)


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy small enough to send to a browser (a 12 MP photo would be 36 MB a rerun)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    return rgb if scale == 1.0 else resize(rgb, max(1, round(w * scale)), max(1, round(h * scale)))


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def download_name(name: str, suffix: str = "_masks.png") -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}{suffix}"
