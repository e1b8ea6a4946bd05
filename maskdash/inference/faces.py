"""From a picture to per-face verdicts: detections → crops → one batched classifier call.

Shared by photos, the command line and the live pipeline, so that every path classifies faces
identically."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from maskdash.imaging import INPUT_SIZE, crop_face
from maskdash.labels import CROP_MARGIN, label_for



@dataclass
class FaceVerdict:
    index: int
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels
    det_score: float
    p_mask: float
    label: str
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))

    def row(self, path: str) -> dict:
        """One row of `predict`'s scene-mode CSV."""
        x1, y1, x2, y2 = self.box
        return {
            "path": path, "face": self.index, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "det_score": round(self.det_score, 4), "label": self.label, "p_mask": round(self.p_mask, 5),
        }


SCENE_COLUMNS = ["path", "face", "x1", "y1", "x2", "y2", "det_score", "label", "p_mask"]
CROP_COLUMNS = ["path", "label", "p_mask"]


def crop_all(rgb: np.ndarray, boxes: list[tuple[float, float, float, float]], margin: float = CROP_MARGIN) -> np.ndarray:
    if not boxes:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    return np.stack([crop_face(rgb, b, margin) for b in boxes])


def classify_detections(rgb: np.ndarray, detections, classifier, mask_threshold: float = 0.5) -> list[FaceVerdict]:
    """`detections`: objects with .box, .score, .landmarks (see maskdash.inference.detection)."""
    crops = crop_all(rgb, [d.box for d in detections])
    probs = classifier.predict(crops) if len(crops) else np.zeros((0,), np.float32)
    out = []
    for i, (det, p) in enumerate(zip(detections, probs)):
        box = tuple(int(round(v)) for v in det.box)
        out.append(FaceVerdict(i, box, float(det.score), float(p), label_for(float(p), mask_threshold), det.landmarks))
    return out


def find_faces(rgb: np.ndarray, detector, classifier, det_threshold: float | None = None,
               mask_threshold: float = 0.5) -> list[FaceVerdict]:
    return classify_detections(rgb, detector.detect(rgb, det_threshold), classifier, mask_threshold)
