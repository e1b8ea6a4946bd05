"""One face record and one result type for every front end — Photos, `predict` and Live — as
ultralytics' `Results` serves all of its front ends.

- `Face`: one face in one picture or frame. A detector fills box, det_score and landmarks; the
  classifier adds p_mask, p_incorrect (a three-class model only; NaN for a binary one) and label;
  on a live stream the tracker adds track_id, p_smooth, p_incorrect_smooth and frames_seen, and
  label is then the face's smoothed verdict (UNCERTAIN until it has one).
- `Results`: the faces of one picture or frame with its size, source name and timings.
  `.rows()` are the rows of `predict`'s CSV, `.table()` the same as a DataFrame, and
  `.annotated()` the picture with every face drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from maskdash.inference.draw import annotate
from maskdash.labels import INCORRECT, UNCERTAIN, WITHOUT_MASK

# The CSV columns of `predict` (scene mode, also Photos' download) and of `predict --crops`.
# p_incorrect came with the three-class models: last, so that readers of the older files keep
# their column positions; empty for a binary model.
SCENE_COLUMNS = ["path", "face", "x1", "y1", "x2", "y2", "det_score", "label", "p_mask", "p_incorrect"]
CROP_COLUMNS = ["path", "label", "p_mask", "p_incorrect"]

Box = tuple[float, float, float, float]
NAN = float("nan")


def pixel_box(box: Box) -> tuple[int, int, int, int]:
    """A box as whole pixels, the way every result reports it."""
    return tuple(int(round(v)) for v in box)  # type: ignore[return-value]


# eq=False: landmarks are an array, and two records of one face are still two records.
@dataclass(eq=False)
class Face:
    box: Box  # x1, y1, x2, y2 in pixels: floats as detected, whole pixels once reported
    det_score: float  # the detector's confidence (NaN for a crop given as the whole face)
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32), repr=False)
    p_mask: float = NAN  # p(with_mask) from the classifier on this face's latest crop
    label: str = UNCERTAIN  # WITH_MASK / WITHOUT_MASK / INCORRECT; on a stream, the smoothed verdict
    track_id: int | None = None  # stream only: the same person keeps the same id
    p_smooth: float = NAN  # stream only: mean p_mask over the track's window
    frames_seen: int = 1  # stream only: frames this face was detected in
    p_incorrect: float = NAN  # p(mask_incorrect) on the latest crop; NaN from a binary model
    p_incorrect_smooth: float = NAN  # stream only: mean p_incorrect over the track's window

    @property
    def p_label(self) -> float:
        """The probability the label stands on: the smoothed one on a stream, else p_mask."""
        return self.p_mask if math.isnan(self.p_smooth) else self.p_smooth

    @property
    def p_verdict(self) -> float:
        """The probability of the label itself, as drawn beside it: p(with_mask) for a mask,
        p(mask_incorrect) for a mask below the nose, p(without_mask) for none (smoothed on a stream)."""
        p_mask = self.p_label
        p_inc = self.p_incorrect if math.isnan(self.p_incorrect_smooth) else self.p_incorrect_smooth
        if self.label == INCORRECT:
            return p_inc
        if self.label == WITHOUT_MASK:
            return 1.0 - p_mask - (0.0 if math.isnan(p_inc) else p_inc)
        return p_mask

    def row(self, index: int, source: str) -> dict:
        """This face as one row of `predict`'s scene CSV (SCENE_COLUMNS)."""
        x1, y1, x2, y2 = pixel_box(self.box)
        return {"path": source, "face": index, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                "det_score": round(self.det_score, 4), "label": self.label, "p_mask": round(self.p_mask, 5),
                "p_incorrect": None if math.isnan(self.p_incorrect) else round(self.p_incorrect, 5)}

    def to_json(self) -> dict:
        """The live results file's face entry (NaN, i.e. not classified yet, becomes null)."""
        def num(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {"track_id": self.track_id, "verdict": self.label, "p_mask": num(self.p_mask),
                "p_smooth": num(self.p_smooth), "det_score": num(self.det_score),
                "box": list(pixel_box(self.box)), "frames_seen": self.frames_seen,
                "p_incorrect": num(self.p_incorrect), "p_incorrect_smooth": num(self.p_incorrect_smooth)}


@dataclass(eq=False)
class Results:
    faces: list[Face]
    size: tuple[int, int]  # (width, height) of the picture as decoded
    source: str = ""  # the file's name (Photos) or path (predict); "" for a camera frame
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage, and "total"
    detector: str = ""  # the detector actually used (after a fallback, not the one asked for)
    rgb: np.ndarray | None = field(default=None, repr=False)  # the picture; None for live frames
    notes: list[str] = field(default_factory=list)  # conversions worth telling the user about
    # A stream's frames only:
    frame_index: int = 0
    fps: float = 0.0  # frames per second the stream delivers (pipeline.SpeedMeter: over the last 2 s)
    ms_per_frame: float = 0.0  # mean processing ms of those frames (the same SpeedMeter reading)
    classified: int = 0  # faces sent to the classifier for this picture or frame

    def rows(self) -> list[dict]:
        """The rows of `predict`'s scene CSV, faces numbered from 0."""
        return [f.row(i, self.source) for i, f in enumerate(self.faces)]

    def table(self):
        """`rows()` as a DataFrame with SCENE_COLUMNS."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=SCENE_COLUMNS)

    def annotated(self, image: np.ndarray | None = None, show_prob: bool = True, bgr: bool = False) -> np.ndarray:
        """A copy of `image` (default: this result's own picture) with every face drawn."""
        image = self.rgb if image is None else image
        if image is None:
            raise ValueError("this result holds no picture; pass the frame to draw on")
        return annotate(image, self.faces, show_prob=show_prob, bgr=bgr)


def results_csv(results: list[Results]) -> str:
    """Every result's faces in one CSV with the columns of `predict` scene mode."""
    import pandas as pd

    return pd.DataFrame([r for res in results for r in res.rows()], columns=SCENE_COLUMNS).to_csv(index=False)
