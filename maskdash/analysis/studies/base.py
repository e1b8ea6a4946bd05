"""What every study shares: the registry (`Context`, `StudyResult`, `Study`, `@study`, `REGISTRY`)
and the small helpers of their tables (group_table, records), the contrast operation and image
paths, and the landmark pass over the Test faces that `Context.test_landmarks` runs once for the
angles, occluders and below_nose studies. The study modules import this one, never the reverse."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from maskdash import settings
from maskdash.analysis.sources import ModelRef, TestFaces, progress_bar
from maskdash.analysis.yaw import estimate_yaw
from maskdash.labels import CLASSES, WITH_MASK


# ---------------------------------------------------------------- the registry


@dataclass
class Context:
    """What every study may use. The Test faces' landmarks and predictions are computed once,
    on first use, and shared (angles and occluders both need the landmarks)."""

    ref: ModelRef
    classifier: object
    fm_dir: Path
    scenes_dir: Path | None
    faces: TestFaces | None  # None when no registered study in this run needs faces
    sel: list[int]  # the sweeps' faces: indices into `faces`
    detector_name: str
    seed: int
    limit: int
    threshold: float = 0.5
    progress: bool = False
    log: Callable[[str], None] = lambda msg: None
    out: Path | None = None  # the results folder (a study may read what an earlier run left there)
    done: dict = field(default_factory=dict)  # name → StudyResult of the studies already run

    @cached_property
    def detector(self):
        from maskdash.inference.detection import make_detector

        return make_detector(self.detector_name)

    @cached_property
    def p_test(self) -> np.ndarray:
        if self.faces is None or not len(self.faces.paths):
            return np.zeros((0,), np.float32)
        return self.classifier.predict_batched(self.faces.inputs)

    @cached_property
    def test_landmarks(self) -> tuple[pd.DataFrame, list]:
        """(one angle row per Test face, their landmarks in the 224 input or None)."""
        self.log(f"[{self.ref.name}] landmarks with {self.detector_name}")
        return angles_on_test(self.faces, self.p_test, self.detector, self.progress)


@dataclass
class StudyResult:
    tables: dict[str, pd.DataFrame]  # file name → table, written in this order
    block: dict  # summary.json's studies[<name>]
    examples: list[dict] = field(default_factory=list)  # examples.csv rows (see analysis.examples)


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    run: Callable[[Context], StudyResult]
    needs_faces: bool  # uses the sampled Test faces
    files: tuple[str, ...] = ()  # the tables it writes (a run that adds studies replaces only these)


REGISTRY: dict[str, Study] = {}


def study(name: str, title: str, needs_faces: bool = True, files: tuple[str, ...] = ()):
    """Register a study function under `name`; the order of registration is the order of a run.
    `files`: the tables it writes."""
    def register(fn: Callable[[Context], StudyResult]):
        REGISTRY[name] = Study(name, title, fn, needs_faces, tuple(files))
        return fn
    return register


# ---------------------------------------------------------------- small helpers


def group_table(df: pd.DataFrame, by: list[str], threshold: float = 0.5) -> pd.DataFrame:
    """n, accuracy (binary truths only), share called with_mask and mean p_mask per group.
    `df` needs columns truth and p_mask."""
    rows = []
    for key, g in df.groupby(by, sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        p = g["p_mask"].to_numpy(float)
        called = p >= threshold
        binary = g["truth"].isin(CLASSES).to_numpy()
        correct = called[binary] == (g["truth"].to_numpy()[binary] == WITH_MASK)
        rows.append({
            **dict(zip(by, key)), "n": int(len(g)),
            "accuracy": float(correct.mean()) if binary.any() else None,
            "called_with_mask": float(called.mean()) if len(g) else None,
            "mean_p_mask": float(p.mean()) if len(g) else None,
        })
    return pd.DataFrame(rows, columns=[*by, "n", "accuracy", "called_with_mask", "mean_p_mask"])


def records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Stretch (factor > 1) or flatten (< 1) the intensities around the image's mean."""
    x = img.astype(np.float32)
    mean = x.mean()
    return np.clip((x - mean) * factor + mean, 0, 255).astype(np.uint8)


def _fm12k_image(path: str) -> str:
    """A Face Mask 12K path (relative to its folder) → relative to the data folder."""
    return f"{settings.facemask12k_dir().name}/{path}"


# ---------------------------------------------------------------- the Test faces' landmarks (and their yaw rows)


def _yaw_row(det) -> dict:
    if det is None:
        return {"detected": False, "det_score": None, "yaw": None, "yaw_eyes": None, "yaw_ears": None, "roll": None}
    y = estimate_yaw(det.landmarks)
    return {"detected": True, "det_score": round(det.det_score, 4), "yaw": round(y.yaw, 2),
            "yaw_eyes": round(y.yaw_eyes, 2), "yaw_ears": None if y.yaw_ears is None else round(y.yaw_ears, 2),
            "roll": round(y.roll, 2)}


def angles_on_test(faces: TestFaces, p: np.ndarray, detector, progress: bool) -> tuple[pd.DataFrame, list]:
    from maskdash.analysis.landmarks import detect_on_canvas

    rows, landmarks = [], []
    for i in progress_bar(range(len(faces.paths)), progress, "landmarks (Test)"):
        det = detect_on_canvas(detector, faces.inputs[i])
        landmarks.append(None if det is None else det.landmarks)
        rows.append({"source": "test", "path": faces.paths[i], "face": 0, "truth": faces.truth[i],
                     "height": int(faces.native[i].shape[0]), **_yaw_row(det), "p_mask": float(p[i])})
    return pd.DataFrame(rows), landmarks
