"""The face tracker and its temporal smoothing, on scripted sequences of boxes and probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from maskdash.inference.tracking import TrackerConfig, Tracker, greedy_match, iou, iou_matrix

A = (100.0, 100.0, 200.0, 200.0)
B = (400.0, 120.0, 500.0, 220.0)


def shifted(box, dx, dy=0.0):
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def run(tracker: Tracker, ps, box=A):
    """Feed one face with probabilities `ps`; return the per-frame Face records."""
    return [tracker.update([box], [0.9], [p])[0] for p in ps]


def test_iou_values():
    assert iou(A, A) == pytest.approx(1.0)
    assert iou(A, B) == 0.0
    assert iou(A, shifted(A, 50)) == pytest.approx(50 * 100 / (2 * 100 * 100 - 50 * 100))
    m = iou_matrix([A, B], [B, shifted(A, 50), A])
    assert m.shape == (2, 3)
    assert m[0, 2] == pytest.approx(1.0) and m[1, 0] == pytest.approx(1.0) and m[0, 0] == 0.0
    assert iou_matrix([], [A]).shape == (0, 1)


def test_greedy_match_takes_best_pairs_once():
    scores = np.array([[0.9, 0.8], [0.85, 0.1]])
    # best pair (0,0) first; row 1 then cannot take column 0 and column 1 is below the bar
    assert greedy_match(scores, 0.3) == [(0, 0)]
    assert sorted(greedy_match(np.array([[0.5, 0.9], [0.8, 0.2]]), 0.3)) == [(0, 1), (1, 0)]


def test_new_face_is_uncertain_until_min_frames():
    tr = Tracker(TrackerConfig(window=10, min_frames=3))
    faces = run(tr, [0.95, 0.95, 0.95])
    assert [f.label for f in faces] == ["uncertain", "uncertain", "with_mask"]
    assert [f.frames_seen for f in faces] == [1, 2, 3]
    assert len({f.track_id for f in faces}) == 1


def test_single_frame_flip_does_not_change_verdict():
    tr = Tracker(TrackerConfig(window=10, min_frames=3, margin=0.15))
    before = run(tr, [0.05] * 10)
    assert before[-1].label == "without_mask"
    flip = run(tr, [0.98])[0]
    assert flip.p_mask == pytest.approx(0.98)  # the raw frame value is reported …
    assert flip.label == "without_mask"  # … but the verdict holds
    after = run(tr, [0.05] * 5)
    assert all(f.label == "without_mask" for f in after)
    # and the other way round, right after a verdict is reached
    tr2 = Tracker(TrackerConfig(window=10, min_frames=3))
    assert [f.label for f in run(tr2, [0.9, 0.9, 0.9, 0.02, 0.9])][2:] == ["with_mask"] * 3


def test_sustained_change_flips_within_the_window():
    cfg = TrackerConfig(window=10, min_frames=3, margin=0.15)
    tr = Tracker(cfg)
    run(tr, [0.05] * 10)
    faces = run(tr, [0.95] * 10)
    verdicts = [f.label for f in faces]
    first = verdicts.index("with_mask")
    # the mean over 10 must pass 0.5 + 0.15: that takes 7 frames of 0.95 among 0.05s
    assert first == 6
    assert all(v == "with_mask" for v in verdicts[first:])
    assert faces[-1].p_smooth == pytest.approx(0.95)


def test_hysteresis_holds_around_the_threshold():
    tr = Tracker(TrackerConfig(window=4, min_frames=2, margin=0.1))
    run(tr, [0.9, 0.9, 0.9, 0.9])
    # a face hovering just below 0.5 (e.g. a mask pulled under the nose) does not flicker
    faces = run(tr, [0.45, 0.55, 0.42, 0.58, 0.44, 0.52, 0.47])
    assert {f.label for f in faces} == {"with_mask"}
    faces = run(tr, [0.2] * 4)
    assert faces[-1].label == "without_mask"


def test_track_survives_short_gaps_and_ends_after_max_missed():
    tr = Tracker(TrackerConfig(max_missed=2))
    first = run(tr, [0.9, 0.9])[-1]
    for _ in range(2):  # missed twice: still alive, nothing reported
        assert tr.update([], [], []) == []
    back = run(tr, [0.9])[0]
    assert back.track_id == first.track_id and back.frames_seen == 3
    for _ in range(3):  # missed three times > max_missed: gone
        tr.update([], [], [])
    assert tr.tracks == []
    again = run(tr, [0.9])[0]
    assert again.track_id != first.track_id and again.label == "uncertain" and again.frames_seen == 1


def test_two_moving_faces_keep_distinct_ids():
    tr = Tracker(TrackerConfig(min_frames=2))
    ids = set()
    for i in range(30):
        a, b = shifted(A, 6 * i, 2 * i), shifted(B, -5 * i, 3 * i)  # moving towards each other
        order = [(a, 0.95), (b, 0.05)] if i % 2 else [(b, 0.05), (a, 0.95)]  # detector order varies
        faces = tr.update([o[0] for o in order], [0.9, 0.9], [o[1] for o in order])
        by_id = {f.track_id: f for f in faces}
        assert len(by_id) == 2
        ids |= set(by_id)
        if i >= 1:
            labels = {f.track_id: f.label for f in faces}
            assert sorted(labels.values()) == ["with_mask", "without_mask"]
    assert len(ids) == 2
    # each id kept its own face: the one with p=0.95 is the one that moved right
    faces = tr.faces(tr.tracks)
    right = max(faces, key=lambda f: f.box[0] if f.p_mask > 0.5 else -1)
    assert right.p_mask == pytest.approx(0.95) and right.label == "with_mask"


def test_a_new_face_far_away_gets_a_new_track():
    tr = Tracker()
    f1 = tr.update([A], [0.9], [0.1])[0]
    f2, f3 = tr.update([A, B], [0.9, 0.8], [0.1, 0.9])
    assert f2.track_id == f1.track_id and f3.track_id != f1.track_id
    assert f3.frames_seen == 1 and f3.label == "uncertain"


def test_configure_mid_stream_keeps_tracks_and_trims_history():
    tr = Tracker(TrackerConfig(window=10, min_frames=3))
    f = run(tr, [0.1] * 8 + [0.9] * 2)[-1]
    assert f.p_smooth == pytest.approx(0.26)
    tr.configure(window=2)
    g = run(tr, [0.9])[0]
    assert g.track_id == f.track_id
    assert g.p_smooth == pytest.approx(0.9)  # window now holds the last two: 0.9, 0.9
    assert g.label == "with_mask"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        TrackerConfig(window=0)
    with pytest.raises(ValueError):
        TrackerConfig(threshold=1.5)


# -- one verdict per person: appearance, on real Face Mask 12K faces -------------------------------
@pytest.fixture(scope="module")
def clear_faces(fm12k):
    """The 8 masked and 8 unmasked clear Test faces (RGB, label), interleaved."""
    from maskdash.inference.bench import load_clear_faces

    return load_clear_faces(fm12k)


@pytest.fixture(scope="module")
def detector():
    from maskdash.inference.detection import make_detector_or_fallback

    return make_detector_or_fallback("blazeface")[0]


def pasted(rgb: np.ndarray, dx: int = 0, dy: int = 0, gain: float = 1.0, side: int = 220) -> np.ndarray:
    """A 640×480 RGB frame with the face photo pasted at the middle (moved by dx, dy; lit × gain),
    as bench.SyntheticStream places real faces."""
    import cv2

    h, w = rgb.shape[:2]
    face = cv2.resize(rgb, (round(w * side / h), side), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 120, np.uint8)
    x, y = 320 - face.shape[1] // 2 + dx, 240 - side // 2 + dy
    frame[y:y + side, x:x + face.shape[1]] = face
    return cv2.convertScaleAbs(frame, alpha=gain)


def track_frames(tracker: Tracker, detector, frames, p: float):
    """Detect, sign and track each frame (as the live pipeline does), classifying every face as p."""
    from maskdash.inference.tracking import face_signature

    out = []
    for rgb in frames:
        found = detector.detect(rgb)
        tracks = tracker.assign(found, [face_signature(rgb, d.box) for d in found])
        for t in tracks:
            tracker.observe(t, p)
        out.append(tracker.faces(tracks))
    return out


def test_another_face_in_the_same_place_gets_its_own_track(clear_faces, detector):
    """Face A for 12 frames, then face B at the same place: B is a new person — a new track id,
    'uncertain' at first, then its own verdict — never A's verdict under A's id. Every ordered
    pair of neighbours among the clear faces: masked→unmasked, unmasked→masked, and people of
    the same class (the hard case: only their looks differ, not the mask)."""
    cfg = TrackerConfig(min_frames=3)
    # 4 and 12 (1767.jpg and Augmented_411_871195.jpg) are one person, the second an augmented copy.
    pairs = [(clear_faces[i], clear_faces[j]) for i in range(len(clear_faces))
             for j in (i + 1, i + 2, i + 3) if j < len(clear_faces)]
    assert len(pairs) == 42
    for (a, label_a), (b, label_b) in pairs:
        tr = Tracker(cfg)
        before = track_frames(tr, detector, [pasted(a)] * 12, 0.95 if label_a == "with_mask" else 0.05)
        assert all(len(f) == 1 for f in before)
        a_id = before[-1][0].track_id
        assert before[-1][0].label == label_a
        after = track_frames(tr, detector, [pasted(b)] * 8, 0.95 if label_b == "with_mask" else 0.05)
        b_faces = [f[0] for f in after if f]
        # the switch is confirmed on B's change_frames-th frame: from then on, B's own track
        new = b_faces[cfg.change_frames - 1:]
        assert {f.track_id for f in new} == {new[0].track_id} and new[0].track_id != a_id
        assert new[0].label == "uncertain" and new[0].frames_seen == 1
        assert new[-1].label == label_b
        assert all(f.label in ("uncertain", label_b) for f in new)
        assert len(tr.tracks) == 1  # A's track ended: A left


def test_the_same_face_moving_and_in_changing_light_keeps_its_track(clear_faces, detector):
    """No false splits: each clear face over 60 frames drifting up to ±10 px and lit ×0.85–1.15."""
    for rgb, _ in clear_faces:
        frames = [pasted(rgb, dx=int(10 * np.sin(i / 5)), dy=int(6 * np.cos(i / 7)),
                         gain=1.0 + 0.15 * np.sin(i / 9)) for i in range(60)]
        faces = track_frames(Tracker(), detector, frames, 0.5)
        ids = {f.track_id for fs in faces for f in fs}
        assert ids == {1}, ids


def test_signature_ignores_the_mask_region(clear_faces, detector):
    """Covering the lower face (a mask put on) leaves the signature nearly unchanged."""
    from maskdash.inference.tracking import face_signature

    rgb = pasted(clear_faces[1][0])
    box = detector.detect(rgb)[0].box
    covered = rgb.copy()
    x1, y1, x2, y2 = (int(v) for v in box)
    covered[y1 + int(0.55 * (y2 - y1)):y2, x1:x2] = (90, 140, 200)  # a blue surgical mask
    cfg = TrackerConfig()
    assert face_signature(rgb, box).distance(face_signature(covered, box)) < cfg.max_change / 2
    assert face_signature(rgb, (-50.0, -50.0, -40.0, -45.0)) is None  # off the frame
