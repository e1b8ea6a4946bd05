"""Large faces that neither YuNet nor the face head sees: BlazeFace over sliding windows proposes
them, a second look confirms them.

The pasted-face probe (`python -m maskdash scenes --pasted`, validation data only) showed the photo
detector missing a third of large masked faces from other photos, 40–100 px tall, that nothing
hides. BlazeFace short range, the original app's webcam detector, is a different network trained on
other faces: it finds masked faces well when a face fills about a third of its 128 px input, and
poorly otherwise. So the photo (shrunk to at most `VIEW_LONG` px, never enlarged) is cut into
square windows of a few sizes, each looked at by BlazeFace as it would look at a webcam frame. On
its own that proposes many non-faces (about 4.6 per dev photo: collars, hands, patterned cloth), so a
proposal becomes a face only when YuNet's second look (`MultiScaleDetector.relook`: the region
rescaled so that the face is 64 px, mirrored) also finds a face there (`inference.facehead`). Chosen
on validation data only; the figures are in `models/facehead/NOTES.md`."""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from maskdash.inference.multiscale import MERGE_IOU, RELOOK_MIN_FACE_PX, nms
from maskdash.inference.results import Face

VIEW_LONG = 640  # the window pass sees the photo at most this long (bounds time on big photos)
# Window sides in view pixels, each stepped by half its side: a face up to half a window is whole in
# one. BlazeFace short range finds a face best at about a third of its input.
WINDOW_SIDES = (96, 144, 216, 324)
PROPOSE = 0.3  # BlazeFace score from which a window's face is proposed
MIN_FACE_PX = RELOOK_MIN_FACE_PX  # photo pixels: YuNet's second look is for faces this tall
MAX_PROPOSALS = 8  # proposals confirmed per photo at most (highest BlazeFace score first): bounds time


def windows(w: int, h: int, sides=WINDOW_SIDES) -> list[tuple[int, int, int, int]]:
    """Square windows (x1, y1, x2, y2) over a w×h view, every side that fits, stepped by half a
    side, the last of each row and column flush with the edge."""
    out = []
    for side in sides:
        if side > min(w, h):
            continue
        step = side // 2
        xs, ys = list(range(0, w - side + 1, step)), list(range(0, h - side + 1, step))
        if xs[-1] + side < w:
            xs.append(w - side)
        if ys[-1] + side < h:
            ys.append(h - side)
        out += [(x, y, x + side, y + side) for y in ys for x in xs]
    return out


class WindowProposer:
    """BlazeFace short range over `windows`: the faces it proposes, in photo pixels, merged by NMS."""

    def __init__(self, detector, threshold: float = PROPOSE, view_long: int = VIEW_LONG, sides=WINDOW_SIDES):
        # `detector`: BlazeFace short range (detection.BlazeFaceDetector), given by the caller so
        # that this module imports no detector module.
        self.detector, self.threshold = detector, float(threshold)
        self.view_long, self.sides = int(view_long), tuple(sides)
        self._lock = threading.Lock()

    def propose(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        s = min(1.0, self.view_long / max(w, h))  # view pixels per photo pixel
        view = rgb if s == 1.0 else cv2.resize(np.ascontiguousarray(rgb), (max(1, round(w * s)), max(1, round(h * s))),
                                                interpolation=cv2.INTER_AREA)
        vh, vw = view.shape[:2]
        boxes, scores = [], []
        with self._lock:
            for x1, y1, x2, y2 in windows(vw, vh, self.sides):
                side = x2 - x1
                for d in self.detector.detect(np.ascontiguousarray(view[y1:y2, x1:x2]), self.threshold):
                    bx1, by1, bx2, by2 = d.box
                    # A face cut by an edge shared with a neighbouring window is whole in that one.
                    if (x1 > 0 and bx1 <= 1) or (y1 > 0 and by1 <= 1) or (x2 < vw and bx2 >= side - 1) \
                            or (y2 < vh and by2 >= side - 1):
                        continue
                    boxes.append(((bx1 + x1) / s, (by1 + y1) / s, (bx2 + x1) / s, (by2 + y1) / s))
                    scores.append(float(d.det_score))
        if not boxes:
            return []
        arr = np.array(boxes, np.float64)
        keep = nms(arr, np.array(scores), MERGE_IOU)
        return [Face(box=tuple(float(v) for v in np.clip(arr[i], 0, [w, h, w, h])), det_score=scores[i]) for i in keep]


def large(faces: list[Face], min_face_px: float | None = None, limit: int | None = None) -> list[Face]:
    """The proposals worth a second look: at least `min_face_px` (default MIN_FACE_PX) tall, best
    first, at most `limit` (default MAX_PROPOSALS)."""
    min_face_px = MIN_FACE_PX if min_face_px is None else min_face_px
    limit = MAX_PROPOSALS if limit is None else limit
    tall = [f for f in faces if f.box[3] - f.box[1] >= min_face_px and math.isfinite(f.det_score)]
    return sorted(tall, key=lambda f: -f.det_score)[:limit]
