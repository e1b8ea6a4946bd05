"""Following faces from frame to frame, and smoothing each face's verdict over time.

A live verdict from one frame flickers: a hand passing the mouth, a blurred frame or a turned
head flips the classifier for a frame or two. The original app voted over the last 30 frames of
the whole picture; here every face keeps its own history, so two people are judged apart.

- Matching: detections are matched to tracks by box overlap (IoU), greedily, best pair first.
  At webcam rates a face moves a fraction of its width between frames, so IoU alone is enough
  and is far cheaper than an assignment solver for the handful of faces in a frame.
- Smoothing: the verdict comes from the mean p(with_mask) over a face's last `window`
  classifications, with hysteresis: once decided it only flips when the mean crosses
  `threshold ± margin`. A new face is 'uncertain' until it has `min_frames` classifications.
  A three-class model's p(mask_incorrect) is averaged over the same window, and a face not
  judged masked gets `labels.unmasked_label` of the two means (the one rule of `label_for`):
  someone with the mask below the nose keeps a steady mask_incorrect verdict.
- Lifetime: a face missed by the detector for more than `max_missed` frames in a row is dropped;
  a shorter gap keeps its id and its history.
- Identity: overlap alone cannot tell that one person stepped into another's place, so the
  newcomer would inherit the previous verdict. Each track keeps a running appearance signature of
  the upper face (`face_signature`); a matched detection that looks different for `change_frames`
  frames in a row ends the track and starts a new one ('uncertain', its own verdict).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

import cv2

from maskdash.inference.results import Box, Face, pixel_box
from maskdash.labels import UNCERTAIN, WITH_MASK, unmasked_label


def iou(a: Box, b: Box) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    """|a|×|b| IoU, vectorised."""
    if not a or not b:
        return np.zeros((len(a), len(b)), np.float32)
    A = np.asarray(a, np.float32)[:, None, :]
    B = np.asarray(b, np.float32)[None, :, :]
    ix = np.clip(np.minimum(A[..., 2], B[..., 2]) - np.maximum(A[..., 0], B[..., 0]), 0, None)
    iy = np.clip(np.minimum(A[..., 3], B[..., 3]) - np.maximum(A[..., 1], B[..., 1]), 0, None)
    inter = ix * iy
    area_a = (A[..., 2] - A[..., 0]) * (A[..., 3] - A[..., 1])
    area_b = (B[..., 2] - B[..., 0]) * (B[..., 3] - B[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def greedy_match(scores: np.ndarray, min_score: float) -> list[tuple[int, int]]:
    """(row, col) pairs, best score first, each row and column used once, score ≥ min_score."""
    pairs: list[tuple[int, int]] = []
    if scores.size == 0:
        return pairs
    used_r: set[int] = set()
    used_c: set[int] = set()
    order = np.argsort(-scores, axis=None)
    for flat in order:
        r, c = divmod(int(flat), scores.shape[1])
        if scores[r, c] < min_score:
            break
        if r in used_r or c in used_c:
            continue
        pairs.append((r, c))
        used_r.add(r)
        used_c.add(c)
    return pairs


# -- appearance ------------------------------------------------------------------------------------
# The signature looks at the upper face: from above the box (hair: a strong cue of who it is) down
# to just under the eyes. Not the mouth and nose: putting a mask on or taking it off must not read as a
# different person (that is the verdict's job), and the eyes region is what a mask never hides.
SIG_TOP, SIG_BOTTOM = -0.3, 0.5  # of the box height, from its top edge
SIG_THUMB = (16, 10)  # grey thumbnail (w, h): coarse enough to ignore a blink and a few px of jitter
SIG_BINS = (8, 4)  # hue × saturation histogram: brightness is left out, so light changes barely count


@dataclass(eq=False)
class Signature:
    thumb: np.ndarray  # zero-mean, unit-norm grey thumbnail (flattened)
    hist: np.ndarray  # hue×saturation histogram, sums to 1

    def distance(self, other: "Signature") -> float:
        """0 (same look) … ~1 (unrelated): the mean of the thumbnails' correlation distance
        (1 - r, clipped to [0, 1]) and the histograms' Hellinger distance. Correlation ignores
        brightness and contrast; the histogram ignores shape, so a shift of a few pixels or a
        lighting change moves neither much, while another person's hair, skin and eyes move both."""
        corr = float(np.dot(self.thumb, other.thumb))
        shape = min(1.0, max(0.0, 1.0 - corr))
        colour = float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(self.hist * other.hist)))))
        return 0.5 * (shape + colour)

    def flipped(self) -> "Signature":
        """The signature of the same face mirrored left-right."""
        w, h = SIG_THUMB
        return Signature(self.thumb.reshape(h, w)[:, ::-1].ravel().copy(), self.hist)

    def blend(self, other: "Signature", rate: float) -> None:
        """Follow slow changes (light, pose): move `rate` of the way towards `other`."""
        t = (1 - rate) * self.thumb + rate * other.thumb
        self.thumb = t / max(float(np.linalg.norm(t)), 1e-9)
        self.hist = (1 - rate) * self.hist + rate * other.hist


def face_signature(rgb: np.ndarray, box: Box) -> Signature | None:
    """A cheap appearance signature of the face in `box` (~0.1 ms); None when the region is
    off the frame or too small to say anything."""
    x1, y1, x2, y2 = box
    h = y2 - y1
    xa, xb = int(max(0, x1)), int(min(rgb.shape[1], x2))
    ya, yb = int(max(0, y1 + SIG_TOP * h)), int(min(rgb.shape[0], y1 + SIG_BOTTOM * h))
    if xb - xa < 8 or yb - ya < 4:
        return None
    region = rgb[ya:yb, xa:xb]
    grey = cv2.resize(cv2.cvtColor(region, cv2.COLOR_RGB2GRAY), SIG_THUMB, interpolation=cv2.INTER_AREA)
    thumb = grey.astype(np.float32).ravel()
    thumb -= thumb.mean()
    thumb /= max(float(np.linalg.norm(thumb)), 1e-6)  # a flat region: all zeros, correlation 0
    hsv = cv2.cvtColor(region, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(SIG_BINS), [0, 180, 0, 256]).ravel()
    return Signature(thumb, hist / max(float(hist.sum()), 1.0))


@dataclass
class TrackerConfig:
    window: int = 10  # classifications averaged per face (one a frame when every face is classified each frame)
    min_frames: int = 3  # classifications before a new face gets a verdict
    threshold: float = 0.5  # p(with_mask) at which the verdict is 'with_mask'
    margin: float = 0.15  # hysteresis: a decided verdict flips only past threshold ± margin
    max_missed: int = 5  # frames a face may go undetected before its track ends
    min_iou: float = 0.3  # overlap needed to call a detection the same face
    # Signature distance above which a matched detection looks like someone else, and the frames
    # in a row it must do so before the track ends (one odd frame — a blink, a hand, motion blur —
    # must not split a person). Measured with BlazeFace on 56 Face Mask 12K Test faces pasted at
    # one place: the same face shifted ≤ 10 px or lit ×0.8–1.2 was over 0.2 in 2.4 % of single
    # frames (mostly ×1.2, where pixels clip), two different faces were within 0.2 in 0.7 % of pairs.
    max_change: float = 0.2
    change_frames: int = 2
    signature_rate: float = 0.1  # how fast a track's signature follows a slowly changing face

    def __post_init__(self) -> None:
        if self.window < 1 or self.min_frames < 1 or self.max_missed < 0 or self.change_frames < 1:
            raise ValueError("window, min_frames and change_frames must be ≥ 1, max_missed ≥ 0")
        if not 0.0 < self.signature_rate <= 1.0:
            raise ValueError("signature_rate must be in (0, 1]")
        if not 0.0 < self.threshold < 1.0 or self.margin < 0:
            raise ValueError("threshold must be in (0, 1) and margin ≥ 0")


@dataclass(eq=False)
class Track:
    """One face's history on one stream: its Face record as last seen (box as detected, in
    floats) with the verdict so far, and the classifications behind it."""

    face: Face
    window: int
    probs: deque = field(init=False)
    incorrect: deque = field(init=False)  # p(mask_incorrect) of the same classifications (NaN: binary model)
    missed: int = 0
    last_classified: int = -1  # frame index of the latest classification
    classified: int = 0  # classifications so far (the window may hold fewer)
    signature: Signature | None = None  # running appearance of the face (None: not known)
    changed: int = 0  # frames in a row the matched detection looked like someone else

    def __post_init__(self) -> None:
        self.probs = deque(maxlen=self.window)
        self.incorrect = deque(maxlen=self.window)

    def resize_window(self, window: int) -> None:
        if window != self.probs.maxlen:
            self.probs = deque(list(self.probs)[-window:], maxlen=window)
            self.incorrect = deque(list(self.incorrect)[-window:], maxlen=window)
            self.window = window
            self.face.p_smooth = self._mean()
            self.face.p_incorrect_smooth = self._mean_incorrect()

    def _mean(self) -> float:
        return float(np.mean(self.probs)) if self.probs else float("nan")

    def _mean_incorrect(self) -> float:
        """Mean p(mask_incorrect) over the window's classifications that have one (NaN if none)."""
        known = [q for q in self.incorrect if q == q]
        return float(np.mean(known)) if known else float("nan")

    def observe(self, p: float, cfg: TrackerConfig, frame_index: int = -1, p_incorrect: float = float("nan")) -> None:
        """Add one classification (p(with_mask), and p(mask_incorrect) from a three-class model)
        and update the verdict: masked or not with hysteresis on the mean p(with_mask); a face not
        masked is mask_incorrect or without_mask by the one rule on the window's means."""
        face = self.face
        face.p_mask, face.p_incorrect = float(p), float(p_incorrect)
        self.last_classified = frame_index
        self.probs.append(float(p))
        self.incorrect.append(float(p_incorrect))
        face.p_smooth = mean = self._mean()
        face.p_incorrect_smooth = mean_inc = self._mean_incorrect()
        self.classified += 1
        if self.classified < cfg.min_frames:
            return  # still 'uncertain'
        if face.label == UNCERTAIN:
            masked = mean >= cfg.threshold
        elif face.label == WITH_MASK:
            masked = mean >= cfg.threshold - cfg.margin
        else:  # without_mask or mask_incorrect: flips to masked only past the upper margin
            masked = mean >= cfg.threshold + cfg.margin
        face.label = WITH_MASK if masked else unmasked_label(mean, None if mean_inc != mean_inc else mean_inc)

    def report(self) -> Face:
        """This frame's record: a copy (the track's own one changes next frame), whole pixels."""
        return replace(self.face, box=pixel_box(self.face.box))


class Tracker:
    """Per-stream state. Not thread-safe: give each video stream its own Tracker.

    Each frame: `tracks = tracker.assign(detections)` (one track per detected Face, in order),
    then `tracker.observe(track, p)` for the faces that were classified, then `tracker.faces(tracks)`.
    `update(boxes, scores, probs)` does all three when every face is classified."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self.frame_index = -1
        self._next_id = 1

    def configure(self, **changes) -> None:
        """Change settings mid-stream; tracks keep their ids and (trimmed) history."""
        self.config = replace(self.config, **changes)
        for t in self.tracks:
            t.resize_window(self.config.window)

    def reset(self) -> None:
        self.tracks.clear()

    def flip(self, width: float) -> None:
        """The picture was mirrored (frames `width` px wide): mirror every track with it, so each
        person keeps their track and verdict."""
        for t in self.tracks:
            x1, y1, x2, y2 = t.face.box
            t.face.box = (width - x2, y1, width - x1, y2)
            if len(t.face.landmarks):
                t.face.landmarks = t.face.landmarks * np.array([-1, 1], np.float32) + np.array([width, 0], np.float32)
            if t.signature is not None:
                t.signature = t.signature.flipped()

    def assign(self, detections: list[Face], signatures: list[Signature | None] | None = None) -> list[Track]:
        """Advance one frame: match detections to tracks, start tracks for new faces, age and
        drop tracks that went unseen. `signatures` (one per detection, from `face_signature`)
        let a track end when a different face takes its place; without them only boxes count.
        Returns the track of each detection, in order."""
        self.frame_index += 1
        cfg = self.config
        boxes = [tuple(float(v) for v in d.box) for d in detections]
        sigs = list(signatures) if signatures is not None else [None] * len(boxes)
        matrix = iou_matrix([t.face.box for t in self.tracks], boxes)
        pairs = greedy_match(matrix, cfg.min_iou)
        out: list[Track | None] = [None] * len(boxes)
        matched_tracks = set()
        ended = set()
        for ti, di in pairs:
            t = self.tracks[ti]
            if self._someone_else(t, sigs[di]):
                ended.add(ti)  # that person left: a new track starts for the detection below
                continue
            face, found = t.face, detections[di]
            face.box, face.det_score, face.landmarks = boxes[di], float(found.det_score), found.landmarks
            face.frames_seen += 1
            t.missed = 0
            out[di] = t
            matched_tracks.add(ti)
        survivors = []
        for ti, t in enumerate(self.tracks):
            if ti in ended:
                continue
            if ti not in matched_tracks:
                t.missed += 1
                if t.missed > cfg.max_missed:
                    continue
            survivors.append(t)
        self.tracks = survivors
        for di, t in enumerate(out):
            if t is None:
                found = detections[di]
                t = Track(Face(boxes[di], float(found.det_score), found.landmarks, track_id=self._next_id),
                          cfg.window, signature=sigs[di])
                self._next_id += 1
                self.tracks.append(t)
                out[di] = t
        return out  # type: ignore[return-value]

    def _someone_else(self, track: Track, sig: Signature | None) -> bool:
        """Whether the track's face was replaced by another one (and so ends); otherwise its
        signature follows the new look."""
        if sig is None:
            return False
        if track.signature is None:
            track.signature = sig
            return False
        if track.signature.distance(sig) > self.config.max_change:
            track.changed += 1
            return track.changed >= self.config.change_frames
        track.changed = 0
        track.signature.blend(sig, self.config.signature_rate)
        return False

    def observe(self, track: Track, p: float, p_incorrect: float = float("nan")) -> None:
        track.observe(p, self.config, self.frame_index, p_incorrect)

    @staticmethod
    def faces(tracks: list[Track]) -> list[Face]:
        return [t.report() for t in tracks]

    def update(self, boxes: list[Box], scores: list[float] | None, probs, p_incorrect=None) -> list[Face]:
        """One frame in which every detected face was classified (boxes, detector scores and
        p_mask given as lists; `p_incorrect` too from a three-class model)."""
        scores = list(scores) if scores is not None else [1.0] * len(boxes)
        incorrect = list(p_incorrect) if p_incorrect is not None else [float("nan")] * len(boxes)
        tracks = self.assign([Face(tuple(b), float(s)) for b, s in zip(boxes, scores)])
        for t, p, q in zip(tracks, probs, incorrect):
            self.observe(t, float(p), float(q))
        return self.faces(tracks)
