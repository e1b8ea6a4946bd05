"""Small faces in crowds: any detector run over the photo at more than one scale, in tiles.

A street photo holds faces of 10–20 px that a detector run at the photo's own size misses (YuNet
finds few masked faces under ~24 px). `MultiScaleDetector` keeps the base detector's own pass over
the whole photo (large faces are found as before) and adds finer passes: the photo enlarged
(or, for big photos, kept at full resolution) and cut into overlapping tiles of the base detector's
comfortable input size (slicing-aided inference). The finer scale follows the photo's size: as fine
as `max_upscale` allows for small photos, capped by a pixel budget for big ones, so time per photo
stays bounded. Detections from all passes are brought back to photo pixels and merged by NMS.

False positives from the finer passes are held down by dropping boxes cut by a tile edge (the
whole face lies in the neighbouring tile, or is the whole-photo pass's to find), boxes larger than
the tile overlap (the whole-photo pass's job) and boxes too small to crop; the finer passes can
also be given a stricter score threshold (`fine_offset`). Looked at by eye, most remaining
"false positives" on the dev scenes are real faces the annotators left unlabelled (blurred
background faces in crowds); a few are backs of heads, toys and printed faces.

A second look for large faces the whole-photo pass is unsure of. YuNet's misses among faces ≥ 32 px
tall (dev scenes, train fold, looked at by eye) are mostly masked, turned, half-hidden or blurred
faces; a third of them it does see, at a score below the threshold, but lowering the threshold for
them alone also brings in ears, hands, collars and backs of heads. So a whole-photo detection at
least `RELOOK_MIN_FACE_PX` tall scoring from `RELOOK_FLOOR` × the threshold up to the threshold
gets a second look: the square around it (the face plus `RELOOK_CONTEXT` face sizes each side) is
rescaled so that the face is `RELOOK_FACE_PX` tall (a size YuNet is comfortable with), mirrored,
and run through the detector again; the box is kept when this look finds the face at the ordinary
threshold, and carries that look's score. A face keeps its score when mirrored and rescaled, a
texture that happened to look like one mostly does not. About 7 ms a look, at most `RELOOK_MAX` a
photo. Train fold, whole pipeline with the shipped classifier: faces ≥ 32 px found 93.4 → 95.3 %
(found and labelled right 90.1 → 92.0 %), all faces found 84.3 → 85.2 % (right 81.2 → 82.1 %),
false positives 0.94 → 0.97 per image. The same unsure boxes kept without a second look: ≥ 32 px
found 96.9 % but 1.29 false positives per image. Tried on the train fold and left out: a second
detector (UltraFace RFB-320, merged by NMS, alone or confirmed by its own or YuNet's second look:
at most one more face ≥ 32 px without more false positives — the large faces YuNet misses entirely
it mostly misses too), YuNet on the mirrored whole photo (no large face that the unmirrored pass
had not at least seen), MTCNN (PyPI `mtcnn` 1.0, weights in the package, MIT: of the 27 faces ≥ 32 px the
multi-scale YuNet misses on the train fold it finds 2 at a confidence of 0.8, 4 at 0.5, while adding 25 and
93 boxes that match no labelled face), dlib's CNN face detector (MMOD, the CC0 file of PyPI
`face-recognition-models`, run through `dlib-bin`, the photo enlarged 2×: none of those 27 faces, at
3 s a photo), and other crop margins for the classifier (the labelled boxes' own crops
get the ≥ 32 px faces' labels right as often as the detected ones, 96.6 vs 96.5 %: what is lost
there is the classifier's, mostly masks worn low called with_mask or the other way round), a finer
pass enlarging more (`max_upscale` 4 or 5: faces of 16–32 px then exceed the tile overlap and are
lost, all faces right 83.0 → 81.4 / 77.8 %), and a second finer pass at 2× beside the 3× one (all
faces right 83.0 → 84.3 % but 0.97 → 1.09 false positives per image; at a threshold 0.05–0.15
stricter for it the gain shrinks with the false positives: +0.8 at 1.02, +0.1 at 0.97), and a third
pass at 5× kept only for faces under 12–14 px (faces 0–12 px right 44.4 → 50.5 %, all faces 83.0 →
83.9 %, but 0.97 → 1.06–1.10 false positives per image, about three per face gained; each box confirmed
by a second look: +0.1–0.3 points at 1.03 — enlarged that much, a real tiny face rarely passes one).
Settings were chosen on the dev scenes' train fold only (see `maskdash.evaluation.scenes`).

The module imports nothing from `detection` (which imports it, for its NMS too): detections are rebuilt as
`Face` records from `results`, so there is no import cycle."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import cv2
import numpy as np

# Chosen on the dev scenes' train fold (python -m maskdash scenes … --fold train).
MAX_UPSCALE = 3.0  # small photos are enlarged at most this much
# Pixels the finer pass may cover: bounds time on big photos (a 1280 px photo is enlarged 1.5×, about
# 12 tiles, ~1 s on 2 cores); never reached by the ≤ 400 px dev photos, so the accuracy settings hold.
PIXEL_BUDGET = 2_500_000
TILE = 640  # longest tile side in the finer pass's pixels: YuNet's usual input size (no coarse pass inside)
OVERLAP = 96  # tile overlap in the finer pass's pixels: any face up to this size is whole in one tile
FINE_THRESHOLD_OFFSET = 0.0  # extra detector score the finer passes need (-0.1: +2 % faces, +0.4 false/photo)
MIN_FACE_PX = 5.0  # shorter boxes (photo pixels) give no usable crop; a floor of 8 already cost labelled faces
MERGE_IOU = 0.3
# YuNet's boxes run from the forehead; the labelled boxes of photos (dev scenes) from the brows to the
# chin: their centre sits 0.14 box heights lower, 0.9× as tall, 1.05× as wide (medians over the train
# fold's matched faces). Moving the box there makes more boxes match the faces and gives the classifier
# the crop it learnt dev-scene faces from. (centre shift in heights, height factor, width factor)
BOX_ADJUSTS = {"yunet": (0.14, 0.9, 1.05)}  # by base detector; others were not measured
MIN_GAIN = 1.3  # a finer pass less than this much finer than the whole-photo pass adds nothing
# The second look (module docstring; train fold). Below 24 px the unsure boxes are mostly faces the
# annotators left unlabelled and blur, so a second look there only adds false positives.
RELOOK_FLOOR = 0.5  # unsure boxes from this share of the threshold up (0.3 at the default 0.6)
RELOOK_MIN_FACE_PX = 24.0  # only boxes at least this tall (photo pixels, as reported) get a second look
RELOOK_FACE_PX = 64  # the face's height in the second look
RELOOK_CONTEXT = 2.0  # face sizes of surroundings on each side: a 5-face square, 320 px at 64 px a face
RELOOK_MAX = 16  # second looks per photo at most (the highest-scoring unsure boxes): bounds time
RELOOK_IOU = 0.4  # the second look's box must overlap the unsure one this much


@dataclass(frozen=True)
class Pass:
    scale: float  # finer-pass pixels per photo pixel
    tiles: tuple[tuple[int, int, int, int], ...]  # x1, y1, x2, y2 in photo pixels


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """As few equal tiles (at most `tile` long) as cover [0, length) with at least `overlap` shared
    between neighbours; equal sizes keep the detector's input size fixed for the whole photo."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / max(1, tile - overlap))
    size = min(length, math.ceil((length + (n - 1) * overlap) / n))
    return [(round(i * (length - size) / (n - 1)), round(i * (length - size) / (n - 1)) + size) for i in range(n)]


def base_side(detector, long_side: int) -> int:
    """The long side at which `detector` looks at a whole photo: YuNet shrinks photos above its
    `max_side`, BlazeFace letterboxes into its `size`; unknown detectors are taken at face value."""
    if hasattr(detector, "max_side"):
        return min(long_side, int(detector.max_side))
    if hasattr(detector, "size"):
        return min(long_side, int(detector.size))
    return long_side


def plan(w: int, h: int, base_long: int, max_upscale: float = MAX_UPSCALE, pixel_budget: int = PIXEL_BUDGET,
         tile: int = TILE, overlap: int = OVERLAP) -> list[Pass]:
    """The finer passes for a w×h photo whose whole-photo pass runs at `base_long` px long side."""
    s0 = base_long / max(w, h)
    fine = min(max_upscale, math.sqrt(pixel_budget / (w * h)))
    if fine < s0 * MIN_GAIN:
        return []
    tile_px = max(1, int(tile / fine))  # photo pixels per tile at most
    ov = min(tile_px - 1, math.ceil(overlap / fine))
    tiles = tuple((x1, y1, x2, y2) for y1, y2 in _spans(h, tile_px, ov) for x1, x2 in _spans(w, tile_px, ov))
    return [Pass(fine, tiles)]


def _height(d) -> float:
    return d.box[3] - d.box[1]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = MERGE_IOU) -> np.ndarray:
    """Indices kept by plain NMS, best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iw = (np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0)
        ih = (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0)
        inter = iw * ih
        sim = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[sim <= iou]
    return np.array(keep, dtype=int)


class MultiScaleDetector:
    """`base` over the whole photo, plus `base` over enlarged overlapping tiles; same interface
    as a detector (`.name`, `.default_threshold`, `.detect(rgb, score_threshold)`)."""

    def __init__(self, base, name: str | None = None, *, tile_detector=None, max_upscale: float = MAX_UPSCALE,
                 pixel_budget: int = PIXEL_BUDGET, tile: int = TILE, overlap: int = OVERLAP,
                 fine_offset: float = FINE_THRESHOLD_OFFSET, min_face: float = MIN_FACE_PX,
                 box_adjust: tuple[float, float, float] | None | str = "auto", relook_detector=None):
        self.base = base
        # Runs the second look (module docstring); None: no second look. A detector of its own keeps
        # one input size (the second look's fixed square).
        self.relook_detector = relook_detector
        # A second instance for the tiles keeps YuNet from re-planning its graph at every size switch.
        self.tile_detector = tile_detector or base
        self.name = name or f"{base.name}-multiscale"
        self.default_threshold = base.default_threshold
        self.max_upscale, self.pixel_budget = float(max_upscale), int(pixel_budget)
        self.tile, self.overlap = int(tile), int(overlap)
        self.fine_offset, self.min_face = float(fine_offset), float(min_face)
        self.box_adjust = BOX_ADJUSTS.get(base.name) if box_adjust == "auto" else box_adjust
        self._lock = threading.Lock()

    def passes(self, w: int, h: int) -> list[Pass]:
        return plan(w, h, base_side(self.base, max(w, h)), self.max_upscale, self.pixel_budget,
                    self.tile, self.overlap)

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list:
        thr = self.default_threshold if score_threshold is None else float(score_threshold)
        if not 0.0 <= thr <= 1.0:
            raise ValueError(f"score threshold must be between 0 and 1, got {thr}")
        if self.relook_detector is None:
            found = list(self.base.detect(rgb, score_threshold))  # validates the frame
        else:  # the unsure boxes too, for the second look
            found = list(self.base.detect(rgb, thr * RELOOK_FLOOR))
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or min(rgb.shape[:2]) < 10:
            return found
        fine_thr = min(0.99, max(0.0, thr + self.fine_offset))
        h, w = rgb.shape[:2]
        with self._lock:
            if self.relook_detector is not None:
                found = self._second_look(rgb, found, thr, w, h)
            for p in self.passes(w, h):
                for x1, y1, x2, y2 in p.tiles:
                    found += self._tile(rgb, (x1, y1, x2, y2), p.scale, fine_thr, w, h)
        return self._merge(found, w, h)

    def _tile(self, rgb, box, scale, thr, w, h) -> list:
        x1, y1, x2, y2 = box
        tw, th = max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))
        interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
        img = cv2.resize(np.ascontiguousarray(rgb[y1:y2, x1:x2]), (tw, th), interpolation=interp)
        sx, sy = tw / (x2 - x1), th / (y2 - y1)
        # Edges shared with a neighbouring tile (not the photo's own edges) cut faces in two.
        inner = (x1 > 0, y1 > 0, x2 < w, y2 < h)
        out = []
        for d in self.tile_detector.detect(img, thr):
            bx1, by1, bx2, by2 = d.box
            if (inner[0] and bx1 <= 1) or (inner[1] and by1 <= 1) or (inner[2] and bx2 >= tw - 1) \
                    or (inner[3] and by2 >= th - 1):
                continue
            if max(bx2 - bx1, by2 - by1) > self.overlap:  # a face this large is the whole-photo pass's
                continue
            lm = np.asarray(d.landmarks, np.float32).copy()
            if lm.size:
                lm[:, 0] = lm[:, 0] / sx + x1
                lm[:, 1] = lm[:, 1] / sy + y1
            photo_box = (bx1 / sx + x1, by1 / sy + y1, bx2 / sx + x1, by2 / sy + y1)
            out.append(replace(d, box=photo_box, landmarks=lm))
        return out

    def _second_look(self, rgb: np.ndarray, found: list, thr: float, w: int, h: int) -> list:
        """The whole-photo pass's sure boxes, plus the unsure large ones that a second look
        confirms (module docstring); call with the lock held."""
        sure = [d for d in found if d.det_score >= thr]
        unsure = [d for d in found if d.det_score < thr and _height(self._adjust(d, w, h)) >= RELOOK_MIN_FACE_PX]
        for d in sorted(unsure, key=lambda d: -d.det_score)[:RELOOK_MAX]:
            score = self.relook(rgb, d.box, thr)
            if score is not None:
                sure.append(replace(d, det_score=score))
        return sorted(sure, key=lambda d: -d.det_score)

    def relook(self, rgb: np.ndarray, box, thr: float) -> float | None:
        """The score of the face in `box` (photo pixels, as the base detector drew it) on a second,
        mirrored look at `RELOOK_FACE_PX`, or None when that look does not find it at `thr`."""
        side = round(RELOOK_FACE_PX * (1 + 2 * RELOOK_CONTEXT))  # one input size for every look
        hit = second_look(self.relook_detector, rgb, box, RELOOK_FACE_PX, side, thr, mirror=True)
        return None if hit is None else hit.det_score

    def _adjust(self, d, w: int, h: int):
        if self.box_adjust is None:
            return d
        dy, sh, sw = self.box_adjust
        x1, y1, x2, y2 = d.box
        bw, bh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + dy * bh
        box = (max(0.0, cx - bw * sw / 2), max(0.0, cy - bh * sh / 2), min(float(w), cx + bw * sw / 2),
               min(float(h), cy + bh * sh / 2))
        return replace(d, box=box)

    def _merge(self, found: list, w: int, h: int) -> list:
        found = [self._adjust(d, w, h) for d in found if d.box[3] - d.box[1] >= self.min_face]
        if len(found) < 2:
            return found
        boxes = np.array([d.box for d in found], np.float64)
        scores = np.array([d.det_score for d in found], np.float64)
        return [found[i] for i in nms(boxes, scores)]


def second_look(detector, rgb: np.ndarray, box, face_px: float, side: int, thr: float, mirror: bool = False,
                min_iou: float = RELOOK_IOU):
    """`detector` on the `side`-px square around `box` (photo pixels) rescaled so that the box's
    longer side is `face_px` (mirrored if asked; parts outside the photo black): its best face
    overlapping `box` at `min_iou` and scoring at least `thr`, as a detection in photo pixels, or None."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if y2 - y1 < 1 or x2 - x1 < 1:
        return None
    s = face_px / max(y2 - y1, x2 - x1)  # look pixels per photo pixel
    # The square around the box's centre, in photo pixels.
    ox, oy = (x1 + x2) / 2 - side / s / 2, (y1 + y2) / 2 - side / s / 2
    px1, py1 = max(0, math.ceil(ox)), max(0, math.ceil(oy))
    px2, py2 = min(rgb.shape[1], math.floor(ox + side / s)), min(rgb.shape[0], math.floor(oy + side / s))
    if px2 - px1 < 2 or py2 - py1 < 2:
        return None
    canvas = np.zeros((side, side, 3), np.uint8)
    cx1, cy1 = round((px1 - ox) * s), round((py1 - oy) * s)
    cw, ch = min(side - cx1, max(1, round((px2 - px1) * s))), min(side - cy1, max(1, round((py2 - py1) * s)))
    interp = cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA
    canvas[cy1:cy1 + ch, cx1:cx1 + cw] = cv2.resize(np.ascontiguousarray(rgb[py1:py2, px1:px2]), (cw, ch),
                                                    interpolation=interp)
    best = None
    for d in detector.detect(np.ascontiguousarray(canvas[:, ::-1]) if mirror else canvas, thr):
        bx1, by1, bx2, by2 = d.box
        if mirror:
            bx1, bx2 = side - bx2, side - bx1
        back = (ox + bx1 / s, oy + by1 / s, ox + bx2 / s, oy + by2 / s)  # photo pixels
        if _iou(back, (x1, y1, x2, y2)) >= min_iou and (best is None or d.det_score > best.det_score):
            best = replace(d, box=back, landmarks=np.zeros((0, 2), np.float32))
    return best
