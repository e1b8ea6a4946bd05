"""The window pass: BlazeFace over sliding windows proposes large faces, a second look confirms them."""

from __future__ import annotations

import numpy as np

from maskdash.evaluation.paste_probe import iou, probe_photos
from maskdash.inference import windows as win
from maskdash.inference.detection import BlazeFaceDetector, make_detector
from maskdash.inference.facehead import CONFIRM


def test_every_face_up_to_half_a_window_is_whole_in_one():
    rng = np.random.default_rng(0)
    for w, h in ((400, 267), (640, 480), (200, 150), (97, 400), (90, 90)):
        all_windows = win.windows(w, h)
        assert all(0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h and x2 - x1 == y2 - y1 for x1, y1, x2, y2 in all_windows)
        sides = {x2 - x1 for x1, _, x2, _ in all_windows}
        assert sides == {s for s in win.WINDOW_SIDES if s <= min(w, h)}
        for side in sides:
            for _ in range(200):
                f = int(rng.integers(8, side // 2 + 1))
                x, y = int(rng.integers(0, w - f + 1)), int(rng.integers(0, h - f + 1))
                assert any(x1 <= x and y1 <= y and x + f <= x2 and y + f <= y2
                           for x1, y1, x2, y2 in all_windows if x2 - x1 == side), (w, h, side, x, y, f)


def test_proposals_come_back_in_photo_pixels_at_any_photo_size(fm12k):
    """A clear face on a big frame (shrunk for the window pass) and on a small one: proposed where
    it is; a frame smaller than every window gives nothing."""
    from maskdash.data.datasets import list_split
    from maskdash.imaging import load_rgb, resize

    face = load_rgb(next(s for s in list_split(fm12k, "Test") if s.label == 1).path)
    proposer = win.WindowProposer(BlazeFaceDetector("blazeface"))
    for w, h, side, x, y in ((1600, 1200, 260, 900, 300), (400, 300, 70, 40, 200)):
        frame = np.full((h, w, 3), 128, np.uint8)
        frame[y:y + side, x:x + side] = resize(face, side, side)
        faces = proposer.propose(frame)
        assert faces and all(0 <= f.box[0] < f.box[2] <= w and 0 <= f.box[1] < f.box[3] <= h for f in faces)
        best = max(faces, key=lambda f: f.det_score)
        cx, cy = (best.box[0] + best.box[2]) / 2, (best.box[1] + best.box[3]) / 2
        assert x < cx < x + side and y < cy < y + side and best.det_score >= win.PROPOSE, (w, best)
    assert proposer.propose(np.full((80, 80, 3), 128, np.uint8)) == []


def test_the_window_pass_adds_large_faces_from_other_photos_without_duplicates(dev_scenes, extra_faces):
    """On the pasted-face probe (validation data only) the photo detector with its window pass finds
    more of the pasted faces than without it, and what it adds is large, confirmed and new."""
    det = make_detector("yunet-facehead")
    assert det.windows is not None
    found = {"with": 0, "without": 0}
    added = 0
    for p in probe_photos(dev_scenes, extra_faces, limit=60):
        det.windows, proposer = None, det.windows
        before = det.detect(p.rgb)
        det.windows = proposer
        after = det.detect(p.rgb)
        found["without"] += any(iou(p.box, f.box) >= 0.4 for f in before)
        found["with"] += any(iou(p.box, f.box) >= 0.4 for f in after)
        ids = {id(f) for f in before}
        assert len(ids) == len(before)
        new = [f for f in after if f.box not in {b.box for b in before}]
        assert len(after) == len(before) + len(new)  # nothing found before is lost
        for f in new:
            added += 1
            assert f.box[3] - f.box[1] >= win.MIN_FACE_PX and f.det_score >= CONFIRM and len(f.landmarks) == 0
        boxes = [f.box for f in after]
        assert all(iou(a, b) < 0.3 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert found["with"] > found["without"] and added >= found["with"] - found["without"], found
