"""The face head as a detector, and YuNet multi-scale joined with it for photos.

`FaceHeadDetector` runs the shipped face head (`maskdash.model.facehead`, trained by
`maskdash.train.facehead`) through the TFLite runtime. `JoinedDetector` keeps every face the
multi-scale YuNet finds and adds the face head's faces of at least `min_face_px` (pixels of a 400 px
photo; the sizes grow on larger photos, `size_factor`) that no YuNet face overlaps and that score at
least `threshold` (`large_threshold` for faces of `large_face_px` and more): the face head was
trained for the masked, turned and blurred faces YuNet misses, but on 246 photos, so its tiniest
faces and its unsure ones are left to YuNet. Last, the large faces a `windows.WindowProposer`
(BlazeFace over windows) proposes join when YuNet's second look confirms them. Then each small box
needs a second opinion: CenterFace, a network trained on other data, must see a face there
(`centerface.SecondOpinion`)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.inference.multiscale import _iou, nms
from maskdash.inference.results import Face
from maskdash.inference.windows import large
from maskdash.model import facehead as fh

# Chosen on the dev scenes' train fold, 'val' photos (maskdash.train.facehead.sub_fold; 90 photos,
# 456 faces), with the shipped classifier: YuNet multi-scale alone finds and labels right 367 faces
# with 1.08 false detections per photo. Joined at 0.45 and 12 px: 374 at 1.13. Lower thresholds and
# sizes add more faces at a steeper price — 0.35/20 px: 377 at 1.22, 0.35/16: 379 at 1.32, 0.3/16:
# 380 at 1.42 — more than two false detections per face gained, which a user counting a crowd pays
# for. Among the false detections looked at: loose masks held in a hand or photographed alone, ears,
# hands, a teddy bear, blurred blobs. Tried there and left out: keeping the face head's faces below
# the threshold (0.15–0.35) where YuNet's whole-photo pass also sees a face at a low score (0.1–0.3):
# +1 to +7 faces at +0.06 to +0.9 false detections per photo — YuNet's unsure boxes are everywhere.
# With CenterFace's check on the small boxes (`centerface`, ninth session) the blobs those lower bars
# brought in are mostly dropped, so the bar was swept again with the check on (fit / val photos,
# right and false detections per photo; 0.45: 956 / 0.85, 380 / 0.96): 0.35: 966 / 0.90, 386 / 1.03,
# faces ≥ 32 px not lower. Chosen by the rule in models/facehead/NOTES.md (the most faces for at most
# 0.1 more false detections per photo); YuNet's finer pass at a lower bar cost +0.28 and more.
THRESHOLD = 0.35  # the face head's own heat-map score
# Large faces get a lower bar: the pasted-face probe (`scenes --pasted`, the extra faces' val fold
# pasted into the val photos at 40–100 px; validation data only) showed the shipped detector
# missing a third of large masked faces. Faces ≥ 32 px from 0.35 up: probe 387 → 399 of 474 found
# (masked 107 → 119 of 169), val photos 378 → 379 right at 104 → 109 false detections; from 0.25 up:
# 410 found but 123 false detections. Chosen: the largest probe gain for at most 0.1 more false
# detections per val photo. (Since THRESHOLD came down to it, ninth session, one bar serves every size;
# the lower bar stays in the code for a head whose small faces need a stricter one.)
LARGE_THRESHOLD = 0.35
LARGE_FACE_PX = 32
# A face proposed by the window pass (`inference.windows`) joins when YuNet's mirrored second look
# (`MultiScaleDetector.relook`) finds a face there from this score up. Chosen on validation data
# (models/facehead/NOTES.md, 2026-12-05): the pasted-face probe and the false detections of the
# train fold's photos. The face head's own second looks added at most one probe face more and cannot
# be judged on the photos it learnt from, so they are left out.
CONFIRM = 0.5
# Photo pixels: a 400 px photo's 8 px face is one cell of the face head's grid. 12 px until CenterFace's
# check came (its smaller boxes were mostly blobs); with the check on, fit / val photos right and false
# detections: 12 px 966 / 222, 386 / 93; 10 px 968 / 225, 389 / 94; 8 px 970 / 230, 389 / 99
# (models/facehead/NOTES.md: the most faces for at most 0.1 more false detections per photo).
MIN_FACE_PX = 8
JOIN_IOU = 0.3  # a face-head box overlapping a YuNet box this much is the same face
# The sizes above were chosen on the dev photos, 400 px long (553 of 565). The face head sees every
# photo at 512 px, so on a larger photo the same sizes in photo pixels are fewer of its grid cells: a
# 12 px face of a 1600 px photo is under one cell. The sizes therefore grow with the photo beyond
# this long side (they hold the same head pixels), and never shrink below their photo pixels (a
# smaller photo's faces still need that many pixels for a crop). The val photos enlarged 4× had
# 55 false detections from the face head and windows where the 400 px photos had 12 (NOTES.md).
REFERENCE_LONG_SIDE = 400


def size_factor(w: int, h: int) -> float:
    """How much the face head's size gates grow on a `w`×`h` photo (1 up to REFERENCE_LONG_SIDE)."""
    return max(1.0, max(w, h) / REFERENCE_LONG_SIDE)


def load_facehead(path: str | Path | None = None, threads: int | None = None):
    """The face head's flatbuffer (.tflite) or Keras model (.keras, converted in memory) as a
    batch function; raises ModelFileError naming the file for anything unusable."""
    from maskdash.model.runtime import ModelFileError, TFLiteRunner, _first_line, load_keras, read_tflite, to_tflite

    path = Path(path) if path is not None else settings.facehead_model_path()
    if not path.is_file():
        raise ModelFileError(path, "no such file")
    content = to_tflite(load_keras(path), "none") if path.suffix.lower() == ".keras" else read_tflite(path)
    runner = TFLiteRunner(content, batch=1, threads=threads)
    want_in, want_out = (1, fh.SIDE, fh.SIDE, 3), (1, fh.GRID, fh.GRID, fh.OUTPUTS)
    try:
        shapes = runner.signature()
    except Exception as exc:  # noqa: BLE001 - the interpreter raises many kinds; all mean "damaged"
        raise ModelFileError(path, f"the TFLite runtime cannot open it ({type(exc).__name__}: {_first_line(exc)})") from None
    if shapes != (want_in, want_out):
        raise ModelFileError(path, f"its input/output are {shapes[0]} → {shapes[1]}; the face head takes "
                                   f"{want_in} → {want_out}")
    return runner


class FaceHeadDetector:
    name = "facehead"
    default_threshold = THRESHOLD

    def __init__(self, path: str | Path | None = None, threads: int | None = None):
        self._run = load_facehead(path, threads)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        thr = self.default_threshold if score_threshold is None else float(score_threshold)
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 10:
            return []
        canvas, scale = fh.letterbox(rgb)
        with self._lock:
            out = self._run(canvas[None].astype(np.float32))[0]
        boxes, scores = fh.decode(out, scale, rgb.shape[1], rgb.shape[0], thr)
        keep = nms(boxes, scores, fh.NMS_IOU)  # neighbouring peaks of one face
        boxes, scores = boxes[keep], scores[keep]
        return [Face(box=tuple(float(v) for v in b), det_score=float(s)) for b, s in zip(boxes, scores)]


def common_score(score: float, bar: float, default: float) -> float:
    """A face-head score on its joined detector's scale: piecewise linear, `bar` ↦ `default` (YuNet's
    default threshold) and 1 ↦ 1, so that a user's threshold keeps the faces scored at or above it."""
    if score <= bar:
        return score * default / bar
    return default + (score - bar) / (1.0 - bar) * (1.0 - default)


def raw_score(threshold: float, bar: float, default: float) -> float:
    """The face-head score whose `common_score` is `threshold` (the bar its own pass is run at)."""
    if threshold <= default:
        return threshold * bar / default
    return bar + (threshold - default) / (1.0 - default) * (1.0 - bar)


def _same_face(box, other, join_iou: float) -> bool:
    """Is `box` (the face head's) a face already found as `other`: overlapping it, or centred
    inside it (on close-up portraits the face head also boxed a masked mouth or half a face,
    under the IoU of a duplicate: 8 extra boxes on 150 Face Mask 12K Validation faces shown large)?"""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return _iou(box, other) >= join_iou or (other[0] <= cx <= other[2] and other[1] <= cy <= other[3])


def _mostly_inside(box, other, margin: float = 0.25) -> bool:
    """Does half of `box` or more lie inside `other` widened by `margin` of its size each side (the
    head around a face)? A window's face there is part of a face already found: an ear of a close-up
    face, seen beside its box on a 640×480 frame of pasted faces."""
    mx, my = margin * (other[2] - other[0]), margin * (other[3] - other[1])
    iw = max(0.0, min(box[2], other[2] + mx) - max(box[0], other[0] - mx))
    ih = max(0.0, min(box[3], other[3] + my) - max(box[1], other[1] - my))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area > 0 and iw * ih / area >= 0.5


class JoinedDetector:
    """`base` (YuNet multi-scale) plus the face head's faces that `base` did not find."""

    def __init__(self, base, head: FaceHeadDetector, name: str, threshold: float = THRESHOLD,
                 min_face_px: float = MIN_FACE_PX, join_iou: float = JOIN_IOU,
                 large_threshold: float = LARGE_THRESHOLD, large_face_px: float = LARGE_FACE_PX,
                 windows=None, confirm: float = CONFIRM, check=None):
        self.base, self.head, self.name = base, head, name
        self.check = check  # a centerface.SecondOpinion for the small boxes, or None: no check
        self.windows, self.confirm = windows, float(confirm)  # a WindowProposer, or None: no window pass
        self.default_threshold = base.default_threshold
        self.threshold, self.min_face_px, self.join_iou = float(threshold), float(min_face_px), float(join_iou)
        self.large_threshold, self.large_face_px = float(large_threshold), float(large_face_px)

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        found = list(self.base.detect(rgb, score_threshold))  # validates the frame
        # The face head's scores run lower than YuNet's: each face-head face is reported on the
        # detector's scale (`common_score`: its bar ↦ YuNet's default, 1 ↦ 1), so a user's threshold
        # means the same for every face and no reported score is below it. The lower bar for large
        # faces holds up to the default; a user asking for stricter boxes gets one bar for every size.
        d0 = self.base.default_threshold
        t = d0 if score_threshold is None else float(score_threshold)
        stricter = t > d0 + 1e-9
        grow = size_factor(rgb.shape[1], rgb.shape[0])
        lowest = self.threshold if stricter else min(self.threshold, self.large_threshold)
        for d in self.head.detect(rgb, min(0.999, raw_score(t, lowest, d0))):
            height = (d.box[3] - d.box[1]) / grow  # in a 400 px photo's pixels
            bar = self.large_threshold if height >= self.large_face_px and not stricter else self.threshold
            score = common_score(d.det_score, bar, d0)
            if score < t - 1e-9 or height < self.min_face_px:
                continue
            if not any(_same_face(d.box, f.box, self.join_iou) for f in found):
                found.append(replace(d, det_score=score))
        if self.windows is not None:
            # A window face carries its second look's score, confirmed from `confirm` at the default:
            # reported on the same scale, as the face head's are.
            confirmed = self._confirmed_windows(rgb, found, min(0.999, raw_score(t, self.confirm, d0)))
            found += [replace(f, det_score=common_score(f.det_score, self.confirm, d0)) for f in confirmed]
        if self.check is not None:
            found = self.check.keep(rgb, found)
        return sorted(found, key=lambda f: -f.det_score)  # as every detector returns them

    def _confirmed_windows(self, rgb: np.ndarray, found: list[Face], confirm: float) -> list[Face]:
        """The window pass's large faces that nothing found yet and YuNet's second look confirms,
        with the proposal's box and the second look's score."""
        if getattr(self.base, "relook_detector", None) is None:  # no second look: no window faces
            return []
        out: list[Face] = []
        for p in large(self.windows.propose(rgb)):
            if any(_same_face(p.box, f.box, self.join_iou) or _mostly_inside(p.box, f.box) for f in found + out):
                continue
            score = self.base.relook(rgb, p.box, confirm)
            if score is not None:
                out.append(Face(box=p.box, det_score=score))
        return out
