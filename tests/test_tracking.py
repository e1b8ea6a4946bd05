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
