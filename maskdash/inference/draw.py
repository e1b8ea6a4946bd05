"""Drawing verdicts on images (boxes, labels, probabilities, a read-out line)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK

# RGB; `annotate(..., bgr=True)` swaps them for OpenCV frames. A mask below the nose is orange:
# between the green of a proper mask and the red of none, and apart from the yellow of 'uncertain'.
COLORS = {WITH_MASK: (46, 204, 113), WITHOUT_MASK: (231, 76, 60), INCORRECT: (255, 140, 0),
          UNCERTAIN: (241, 196, 15)}
TEXT = {WITH_MASK: "mask", WITHOUT_MASK: "no mask", INCORRECT: "mask below nose", UNCERTAIN: "?"}


def annotate(image: np.ndarray, faces, show_prob: bool = True, bgr: bool = False, copy: bool = True) -> np.ndarray:
    """Draw each face (maskdash.inference.results.Face: box, label, p_verdict) on `image`.
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
        p = face.p_verdict
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


# -- numbered photos (the Photos page) -------------------------------------------------------------
# Live keeps `annotate`: one face or a few, large, redrawn 30 times a second. A photo of a crowd
# has dozens of faces 15 px tall, so each box carries its table row's number, labels are placed
# where they overlap no other label, and the verdict's word is left to the colour when the face is
# small or the place is crowded.

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_PX = 22  # cv2's height of digits at font scale 1
# Labels are 10–18 px on a picture the page shows (at most 1600 px long); a full-size download of a
# phone photo is drawn with labels as much larger as it is, so that they read the same when viewed whole.
TEXT_REFERENCE_SIDE = 1600
WORDS_MIN_SHARE = 0.07  # faces shorter than this share of the picture's long side get their number only
HIGHLIGHT = (255, 255, 255)


@dataclass
class Tag:
    """Where one face's label was drawn (pixels of the drawn image)."""
    face: int  # the face's number: its row in the table and the CSV
    text: str
    rect: tuple[int, int, int, int]  # x1, y1, x2, y2 of the label's filled background
    box: tuple[int, int, int, int]  # the face's box as drawn


def _overlap(a, b) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def _candidates(box, tw: int, th: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Label rectangles flush against the box: above, below, right, left, then inside its top."""
    x1, y1, x2, y2 = box
    spots = [(x1, y1 - th), (x1, y2), (x2, y1), (x1 - tw, y1), (x2 - tw, y1 - th), (x2 - tw, y2), (x1, y1)]
    out = []
    for x, y in spots:
        x = min(max(0, x), max(0, width - tw))  # slid inside the picture, still touching the box's side
        y = min(max(0, y), max(0, height - th))
        out.append((x, y, x + tw, y + th))
    return out


def _label_size(text: str, font: float, stroke: int = 1) -> tuple[int, int, int]:
    (tw, th), base = cv2.getTextSize(text, FONT, font, stroke)
    pad = 2 * stroke
    return tw + 2 * pad, th + base + 2 * pad, base


def _place(box, texts: list[str], font: float, placed: list, boxes: list, width: int, height: int,
           stroke: int = 1):
    """The first spot, for the longest text first, that covers no placed label and no other face;
    failing that, the number alone where it covers least (labels first, then faces)."""
    best = None
    for text in texts:
        tw, th, base = _label_size(text, font, stroke)
        for rect in _candidates(box, tw, th, width, height):
            score = (sum(_overlap(rect, p) for p in placed), sum(_overlap(rect, b) for b in boxes if b != box))
            if score == (0, 0):
                return text, rect, base
            if text is texts[-1] and (best is None or score < best[0]):
                best = (score, text, rect, base)
    return best[1], best[2], best[3]


def blur_faces(image: np.ndarray, boxes, copy: bool = True) -> np.ndarray:
    """Each box's pixels pixelated (a 6×6 mosaic: no face can be recognised); nothing outside
    the boxes changes."""
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        patch = out[y1:y2, x1:x2]
        small = cv2.resize(patch, (min(6, x2 - x1), min(6, y2 - y1)), interpolation=cv2.INTER_AREA)
        out[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return out


def annotate_numbered(image: np.ndarray, faces, scale: float = 1.0, highlight: int | None = None,
                      blur: bool = False, words: dict[str, str] | None = None) -> tuple[np.ndarray, list[Tag]]:
    """A copy of `image` with each face's box and a label "N" or "N mask 0.97" (N: the face's row
    in the table), and where each label went (labels grow on pictures over TEXT_REFERENCE_SIDE).
    `scale`: the image's size over the size the face boxes are in (a display copy). `highlight`:
    that face's box drawn thick with a white ring.
    `blur`: every face pixelated first (boxes and labels kept). `words`: the verdicts' words by label
    (default `TEXT`; the Photos page's compliance view says compliant / not compliant)."""
    boxes = [tuple(int(round(v * scale)) for v in f.box) for f in faces]
    out = blur_faces(image, boxes) if blur else image.copy()
    height, width = out.shape[:2]
    base_thick = max(1, int(round(max(height, width) / 640)))
    grow = max(1.0, max(height, width) / TEXT_REFERENCE_SIDE)
    stroke = max(1, int(round(grow)))
    words_px = WORDS_MIN_SHARE * max(height, width)
    order = sorted(range(len(faces)), key=lambda i: (i == highlight, i))  # the highlight last: on top
    placed: list = []
    tags: dict[int, Tag] = {}
    for i in order:
        face, box = faces[i], boxes[i]
        x1, y1, x2, y2 = box
        face_h = max(1, y2 - y1)
        color = COLORS.get(face.label, COLORS[UNCERTAIN])
        thick = max(1, min(base_thick, face_h // 12))
        if i == highlight:
            ring = thick + 2  # white inside a dark ring: visible on light and dark backgrounds alike
            cv2.rectangle(out, (x1 - ring - 2, y1 - ring - 2), (x2 + ring + 2, y2 + ring + 2), (0, 0, 0), 2)
            cv2.rectangle(out, (x1 - ring, y1 - ring), (x2 + ring, y2 + ring), HIGHLIGHT, 2)
            thick += 2
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        # text 10-18 px tall, growing with the face; a highlighted face's label a little larger
        font = min(18 * grow, max(10 * grow, 0.35 * face_h)) / FONT_PX * (1.25 if i == highlight else 1.0)
        number = str(i)
        texts = [number]
        if face_h >= words_px or i == highlight:
            word = (words or TEXT).get(face.label, face.label)
            p = face.p_verdict
            texts.insert(0, f"{number} {word} {p:.2f}" if np.isfinite(p) else f"{number} {word}")
        text, rect, base = _place(box, texts, font, placed, boxes, width, height, stroke)
        placed.append(rect)
        cv2.rectangle(out, rect[:2], (rect[2] - 1, rect[3] - 1), color, -1)
        cv2.putText(out, text, (rect[0] + 2 * stroke, rect[3] - base - 2 * stroke), FONT, font, (0, 0, 0), stroke,
                    cv2.LINE_AA)
        tags[i] = Tag(i, text, rect, box)
    return out, [tags[i] for i in range(len(faces))]
