"""From a picture to per-face verdicts: detections → crops → one batched classifier call.

Shared by Photos, the command line, the live pipeline and the scene evaluation, so that every
path crops and classifies faces identically."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from maskdash.imaging import INPUT_SIZE, crop_face, to_input
from maskdash.inference.results import Face, Results, pixel_box
from maskdash.labels import CROP_MARGIN, DEFAULT_THRESHOLD, INCORRECT_INDEX, MASK_INDEX, label_for

# A picture given as one face (`predict --crops`) must look like one: the classifier gives any
# input a confident answer (a 1×1 px image, an all-black or a transparent one all came out
# "with_mask", up to 0.9996). The smallest Face Mask 12K face is 25 px; its faces' pixel standard
# deviation starts at ~25 (apart from two blank images in its Validation split).
MIN_CROP_SIDE = 16
MIN_CROP_STD = 3.0


def crop_all(rgb: np.ndarray, boxes: list[tuple[float, float, float, float]], margin: float = CROP_MARGIN) -> np.ndarray:
    if not boxes:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    return np.stack([crop_face(rgb, b, margin) for b in boxes])


def class_probabilities(classifier, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_mask, p_incorrect) of each crop from one classifier call: p_incorrect is NaN for a binary
    model (`classifier.units` 2), the model's mask_incorrect output for a three-class one."""
    probs = classifier.probabilities(crops) if len(crops) else np.zeros((0, classifier.units), np.float32)
    p_mask = probs[:, MASK_INDEX].astype(np.float64)
    if probs.shape[1] > INCORRECT_INDEX:
        return p_mask, probs[:, INCORRECT_INDEX].astype(np.float64)
    return p_mask, np.full(len(probs), np.nan)


def classify_detections(rgb: np.ndarray, detections: list[Face], classifier,
                        mask_threshold: float = DEFAULT_THRESHOLD) -> list[Face]:
    """The detected faces with p_mask, p_incorrect and label filled in (new records, boxes in
    whole pixels)."""
    crops = crop_all(rgb, [d.box for d in detections])
    p_mask, p_inc = class_probabilities(classifier, crops)
    return [replace(d, box=pixel_box(d.box), p_mask=float(p), p_incorrect=float(q),
                    label=label_for(float(p), mask_threshold, float(q)))
            for d, p, q in zip(detections, p_mask, p_inc)]


def analyse(rgb: np.ndarray, source: str, detector, classifier, det_threshold: float | None = None,
            mask_threshold: float = DEFAULT_THRESHOLD) -> Results:
    """One picture → Results (faces found and classified, timings, the picture kept for drawing)."""
    start = time.perf_counter()
    detections = detector.detect(rgb, det_threshold)
    t_det = time.perf_counter()
    faces = classify_detections(rgb, detections, classifier, mask_threshold)
    end = time.perf_counter()
    timings = {"detect": (t_det - start) * 1000, "classify": (end - t_det) * 1000, "total": (end - start) * 1000}
    return Results(faces, (rgb.shape[1], rgb.shape[0]), source, timings, detector.name, rgb, classified=len(faces))


def crop_problem(rgb: np.ndarray) -> str | None:
    """Why a picture given as a face crop cannot be one (None when it can)."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_CROP_SIDE:
        return f"too small to be a face ({w}×{h} px; a face crop needs at least {MIN_CROP_SIDE} px a side)"
    std = float(rgb.std())
    if std < MIN_CROP_STD:
        return f"too uniform to be a face (pixel standard deviation {std:.1f}; a face has far more detail)"
    return None


def classify_crop(rgb: np.ndarray, source: str, classifier, mask_threshold: float = DEFAULT_THRESHOLD) -> Results:
    """A picture that is one face (`predict --crops`): Results with one Face spanning it.
    Check it with `crop_problem` first."""
    start = time.perf_counter()
    p_mask, p_inc = class_probabilities(classifier, to_input(rgb)[None])
    p, q = float(p_mask[0]), float(p_inc[0])
    h, w = rgb.shape[:2]
    face = Face((0, 0, w, h), float("nan"), p_mask=p, p_incorrect=q, label=label_for(p, mask_threshold, q))
    total = (time.perf_counter() - start) * 1000
    return Results([face], (w, h), source, {"classify": total, "total": total}, rgb=rgb, classified=1)
