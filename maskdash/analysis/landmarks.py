"""Landmarks for a face the data already boxes: BlazeFace run on a tight Test crop (pasted on a
grey canvas) or around a dev-scene face's ground-truth box."""

from __future__ import annotations

import numpy as np

from maskdash.inference.tracking import iou as box_iou

CANVAS_SCALE = 2.0  # a tight crop is pasted on a canvas twice its size: BlazeFace wants context


def detect_on_canvas(detector, face_rgb: np.ndarray, scale: float = CANVAS_SCALE):
    """Detect in a tight face crop pasted on a mid-grey canvas `scale` times its size (a crop
    that fills the frame is too close for BlazeFace). → the best Face with box and landmarks
    in the crop's pixels, or None."""
    from maskdash.inference.results import Face

    h, w = face_rgb.shape[:2]
    cw, ch = int(round(w * scale)), int(round(h * scale))
    ox, oy = (cw - w) // 2, (ch - h) // 2
    canvas = np.full((ch, cw, 3), 128, np.uint8)
    canvas[oy:oy + h, ox:ox + w] = face_rgb
    found = detector.detect(canvas)
    if not found:
        return None
    cx, cy = cw / 2, ch / 2  # the face is the one nearest the centre
    best = min(found, key=lambda d: (d.box[0] + d.box[2] - 2 * cx) ** 2 + (d.box[1] + d.box[3] - 2 * cy) ** 2)
    x1, y1, x2, y2 = best.box
    return Face((x1 - ox, y1 - oy, x2 - ox, y2 - oy), best.det_score, best.landmarks - np.float32([ox, oy]))


def detect_around_box(detector, scene_rgb: np.ndarray, box, context: float = CANVAS_SCALE, min_iou: float = 0.3):
    """Run the detector on a square crop `context` times the ground-truth box around it (grey
    beyond the photo's edges) and keep the detection that matches the box. → Face in scene
    pixels, or None when the detector misses this face."""
    from maskdash.inference.results import Face

    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx, sy = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = max(int(round(side)), 2)
    h, w = scene_rgb.shape[:2]
    crop = np.full((n, n, 3), 128, np.uint8)
    ax1, ay1, ax2, ay2 = max(sx, 0), max(sy, 0), min(sx + n, w), min(sy + n, h)
    if ax2 > ax1 and ay2 > ay1:
        crop[ay1 - sy:ay2 - sy, ax1 - sx:ax2 - sx] = scene_rgb[ay1:ay2, ax1:ax2]
    best, best_iou = None, min_iou
    for d in detector.detect(crop):
        b = (d.box[0] + sx, d.box[1] + sy, d.box[2] + sx, d.box[3] + sy)
        iou = box_iou(b, box)
        if iou >= best_iou:
            best, best_iou = Face(b, d.det_score, d.landmarks + np.float32([sx, sy])), iou
    return best


def to_crop_pixels(landmarks: np.ndarray, box, frame_w: int, frame_h: int) -> np.ndarray:
    """Scene-pixel landmarks → pixels of the classifier's crop of `box` (square + CROP_MARGIN,
    224 px), where the thumbnails draw them."""
    from maskdash.imaging import INPUT_SIZE, square_box
    from maskdash.labels import CROP_MARGIN

    sx1, sy1, sx2, sy2 = square_box(box, frame_w, frame_h, CROP_MARGIN)
    return (landmarks - np.float32([sx1, sy1])) * np.float32([INPUT_SIZE / (sx2 - sx1), INPUT_SIZE / (sy2 - sy1)])
