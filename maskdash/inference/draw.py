"""Drawing verdicts on images (boxes, labels, probabilities, a read-out line)."""

from __future__ import annotations

import cv2
import numpy as np

from maskdash.labels import UNCERTAIN, WITH_MASK, WITHOUT_MASK

# RGB; `annotate(..., bgr=True)` swaps them for OpenCV frames.
COLORS = {WITH_MASK: (46, 204, 113), WITHOUT_MASK: (231, 76, 60), UNCERTAIN: (241, 196, 15)}
TEXT = {WITH_MASK: "mask", WITHOUT_MASK: "no mask", UNCERTAIN: "?"}


def annotate(image: np.ndarray, faces, show_prob: bool = True, bgr: bool = False, copy: bool = True) -> np.ndarray:
    """Draw each face (maskdash.inference.results.Face: box, label, p_label) on `image`.
    Any other label is written as it is, in the 'uncertain' colour."""
    out = image.copy() if copy else image
    scale = max(out.shape[:2]) / 640
    thick = max(1, int(round(2 * scale)))
    font = 0.5 * max(scale, 0.6)
    for face in faces:
        color = COLORS.get(face.label, COLORS[UNCERTAIN])
        if bgr:
            color = color[::-1]
        x1, y1, x2, y2 = (int(v) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        text = TEXT.get(face.label, face.label)
        p = face.p_label
        if show_prob and np.isfinite(p):  # NaN: not classified yet
            text += f" {p:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        ty = y1 - 4 if y1 - th - 6 > 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), color, -1)
        cv2.putText(out, text, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def readout(image: np.ndarray, text: str) -> np.ndarray:
    """A small status line (fps, latency) in the top-left corner, drawn in place on a dark strip
    so that it stays legible on any background."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(image, (4, 20 - th - 4), (12 + tw, 20 + base + 2), (0, 0, 0), -1)
    cv2.putText(image, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image
