"""The live pipeline on frames made of real Face Mask 12K Test faces, with the real classifier
and detectors: faces found and labelled, overlay, settings changed while running, sessions
shared between threads, and the live benchmark's output."""

from __future__ import annotations

import contextlib
import io
import json
import threading

import cv2
import numpy as np
import pytest

from conftest import need
from maskdash.inference.bench import SyntheticStream, bench_live, load_clear_faces
from maskdash.inference.draw import COLORS
from maskdash.inference.pipeline import FramePipeline, PipelineConfig
from maskdash.inference.tracking import iou

W, H = 640, 480


@pytest.fixture(scope="module")
def classifier():
    from maskdash.model.runtime import load_classifier

    return load_classifier()  # the shipped model


@pytest.fixture(scope="module")
def pipeline(classifier):
    return FramePipeline(classifier, PipelineConfig(detector="blazeface"))


@pytest.fixture(scope="module")
def test_faces(fm12k):
    """8 masked and 8 unmasked clear Test faces (bench.CLEAR_FACES), interleaved (RGB, label)."""
    return load_clear_faces(fm12k)


def background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = np.full((H, W, 3), 110, np.uint8)
    for _ in range(8):  # some clutter, so that detections on the background would show
        x, y = int(rng.integers(0, W - 80)), int(rng.integers(0, H - 80))
        bg[y:y + 80, x:x + 80] = rng.integers(40, 220, 3)
    return bg


def place(frame: np.ndarray, rgb: np.ndarray, x: int, y: int, height: int) -> tuple[int, int, int, int]:
    """Paste a face photo (RGB) into a BGR frame with its top-left at (x, y); returns its box."""
    h, w = rgb.shape[:2]
    face = cv2.resize(rgb, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    frame[y:y + fh, x:x + fw] = face[:, :, ::-1]
    return (x, y, x + fw, y + fh)


def pair_frame(masked, unmasked, dx: int = 0):
    """A frame with a masked face on the left and an unmasked one on the right."""
    frame = background()
    a = place(frame, masked[0], 40 + dx, 120, 180)
    b = place(frame, unmasked[0], 360 + dx, 140, 180)
    return frame, a, b


def best_match(faces, box):
    scored = [(iou(f.box, box), f) for f in faces]
    return max(scored, key=lambda s: s[0], default=(0.0, None))


def test_finds_and_labels_placed_faces(pipeline, test_faces):
    masked = [f for f in test_faces if f[1] == "with_mask"]
    unmasked = [f for f in test_faces if f[1] == "without_mask"]
    found = {"with_mask": 0, "without_mask": 0}
    right = labelled = 0
    for m, u in zip(masked, unmasked):
        session = pipeline.session()
        for i in range(6):  # a face needs min_frames classifications for a verdict
            frame, a, b = pair_frame(m, u, dx=3 * i)
            _, result = session.process(frame)
        assert result.classified == len(result.faces)
        for box, truth in ((a, "with_mask"), (b, "without_mask")):
            score, face = best_match(result.faces, box)
            if score < 0.3:
                continue
            found[truth] += 1
            if face.label != "uncertain":
                labelled += 1
                right += face.label == truth
    print(found, labelled, right)
    assert found["without_mask"] >= 7 and found["with_mask"] >= 7, found
    assert labelled >= sum(found.values()) - 1  # detected in most frames, so decided
    assert right / labelled >= 0.85, (right, labelled)


def test_result_and_overlay(pipeline, test_faces):
    session = pipeline.session()
    frame, a, b = pair_frame(test_faces[0], test_faces[1])
    original = frame.copy()
    results = []
    for _ in range(3):
        out, result = session.process(frame)
        results.append(result)
    assert np.array_equal(frame, original)  # the caller's frame is not drawn on
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert [r.frame_index for r in results] == [0, 1, 2]
    assert set(result.timings_ms) == {"detect", "crop", "classify", "draw", "total"}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.timings_ms["total"] >= result.timings_ms["classify"]
    assert result.fps > 0 and result.detector == "blazeface"
    assert result.faces, "no face found"
    for face in result.faces:
        assert face.label in ("with_mask", "without_mask")
        assert 0.0 <= face.p_mask <= 1.0 and 0.0 <= face.p_smooth <= 1.0
        x1, y1, x2, y2 = face.box
        edge = out[y1:y2 + 1, x1]  # the box's left edge is drawn in the verdict's colour (BGR)
        color = np.array(COLORS[face.label][::-1], np.uint8)
        assert (np.abs(edge.astype(int) - color).sum(axis=1) < 10).mean() > 0.5
    # with probabilities off, the label text is shorter: fewer pixels differ from the frame
    quiet = FramePipeline(pipeline.classifier, PipelineConfig(show_probabilities=False), warm_up=False)
    s2 = quiet.session()
    for _ in range(3):
        out2, _ = s2.process(frame)
    assert (out2 != frame).any(axis=2).sum() < (out != frame).any(axis=2).sum()


def test_update_config_while_running(classifier, test_faces):
    pipe = FramePipeline(classifier, PipelineConfig(smoothing_window=10), warm_up=False)
    session = pipe.session()
    frame, a, _ = pair_frame(test_faces[0], test_faces[1])
    for _ in range(3):
        _, r = session.process(frame)
    ids = {f.track_id for f in r.faces}
    pipe.update_config(smoothing_window=2, mask_threshold=0.4, show_probabilities=False)
    _, r = session.process(frame)
    assert session.tracker.config.window == 2 and session.tracker.config.threshold == 0.4
    assert {f.track_id for f in r.faces} == ids  # tracks survive a settings change
    assert all(len(t.probs) <= 2 for t in session.tracker.tracks)
    pipe.update_config(detector="blazeface-full", det_threshold=0.4)
    _, r = session.process(frame)
    assert r.detector == "blazeface-full" and pipe.message is None
    with pytest.raises(ValueError):
        pipe.update_config(detector="haar")
    with pytest.raises(ValueError):
        pipe.update_config(smoothing_window=0)
    with pytest.raises(ValueError):
        pipe.update_config(colour="red")
    assert pipe.config.detector == "blazeface-full" and pipe.config.smoothing_window == 2


def test_missing_yunet_falls_back_with_a_message(classifier, test_faces, tmp_path, monkeypatch):
    from maskdash.inference import detection

    monkeypatch.setenv("MASKDASH_DETECTOR_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("MASKDASH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(detection, "YUNET_URL", "http://127.0.0.1:9/yunet.onnx")  # nothing listens there
    pipe = FramePipeline(classifier, warm_up=False)
    pipe.update_config(detector="yunet", det_threshold=0.7)
    assert pipe.message and "YuNet" in pipe.message
    assert pipe.detector.name != "yunet" and pipe.config.detector == "yunet"
    frame, _, _ = pair_frame(test_faces[0], test_faces[1])
    _, r = pipe.session().process(frame)
    assert r.detector == pipe.detector.name and r.faces  # still working, on the fallback


def test_yunet_when_present(classifier, test_faces):
    from maskdash.inference.detection import available_detectors

    need("yunet" in available_detectors(), "YuNet model file not present")
    pipe = FramePipeline(classifier, PipelineConfig(detector="yunet"), warm_up=False)
    frame, a, b = pair_frame(test_faces[0], test_faces[1])
    session = pipe.session()
    for _ in range(3):
        _, r = session.process(frame)
    assert r.detector == "yunet" and pipe.message is None
    assert best_match(r.faces, a)[0] >= 0.3 and best_match(r.faces, b)[0] >= 0.3


def test_sessions_in_threads_do_not_mix(pipeline, test_faces):
    """Two streams processed at once through one shared pipeline give exactly what each gives alone."""
    streams = []
    for k, (rgb, _) in enumerate(test_faces[:2]):
        frames = []
        for i in range(15):
            f = background(seed=k)
            place(f, rgb, 150 + 4 * i, 100 + 2 * i, 200)
            frames.append(f)
        streams.append(frames)

    def run(frames, sink, errors):
        try:
            session = pipeline.session()
            for f in frames:
                sink.append(session.process(f)[1])
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    reference = []
    for frames in streams:
        sink: list = []
        run(frames, sink, [])
        reference.append(sink)
    outs: list[list] = [[], []]
    errors: list = []
    threads = [threading.Thread(target=run, args=(streams[k], outs[k], errors)) for k in (0, 1)]
    toggler_stop = threading.Event()

    def toggle():  # settings flip while frames flow; the values don't change the results
        while not toggler_stop.wait(0.002):
            pipeline.update_config(show_probabilities=not pipeline.config.show_probabilities)

    t3 = threading.Thread(target=toggle)
    for t in (*threads, t3):
        t.start()
    for t in threads:
        t.join()
    toggler_stop.set()
    t3.join()
    pipeline.update_config(show_probabilities=True)
    assert not errors, errors
    for ref, got in zip(reference, outs):
        assert [r.frame_index for r in got] == list(range(15))
        assert len(got[-1].faces) >= 1
        for r0, r1 in zip(ref, got):
            assert [f.box for f in r0.faces] == [f.box for f in r1.faces]
            assert [f.track_id for f in r0.faces] == [f.track_id for f in r1.faces]
            np.testing.assert_allclose([f.p_mask for f in r0.faces], [f.p_mask for f in r1.faces], atol=1e-4)


def test_classify_budget_refreshes_every_face(classifier, test_faces):
    pipe = FramePipeline(classifier, PipelineConfig(classify_budget=2, min_frames=2), warm_up=False)
    stream = SyntheticStream(test_faces, 5)
    session = pipe.session()
    for i in range(12):
        _, r = session.process(stream.frame(i)[0])
        assert r.classified == min(2, len(r.faces))
    assert len(r.faces) >= 3
    # every face present for the last 6 frames has been classified at least twice by now
    for t in session.tracker.tracks:
        if t.face.frames_seen >= 6:
            assert t.classified >= 2 and t.face.label != "uncertain"
            assert session.tracker.frame_index - t.last_classified < 3
    # without a budget every face is classified every frame
    pipe.update_config(classify_budget=None)
    _, r = session.process(stream.frame(12)[0])
    assert r.classified == len(r.faces) >= 3


def test_bad_frames_get_a_clear_message(pipeline):
    session = pipeline.session()
    with pytest.raises(ValueError, match="uint8"):
        session.process(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        session.process(np.zeros((0, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="H×W×3"):
        session.process(np.zeros((48, 64, 5), np.uint8))
    out, r = session.process(np.full((48, 64), 128, np.uint8))  # grey is fine
    assert out.shape == (48, 64, 3) and r.faces == []


def test_bench_live_prints_one_json_object(pipeline, fm12k):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        doc = bench_live(frames=6, faces=(1, 2), json=True, pipeline=pipeline, data=str(fm12k))
    printed = json.loads(buf.getvalue())
    assert next(iter(printed)) == "fps" and printed["fps"] == doc["runs"]["1 face"]["fps"] > 0
    for name in ("1 face", "2 faces"):
        run = printed["runs"][name]
        assert run["frames"] == 6
        assert {"detect", "crop", "classify", "draw", "total"} <= set(run["ms"])
        assert 0.0 <= run["detected"] <= 1.0


def test_bench_live_on_a_video_file(pipeline, test_faces, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (W, H))
    need(writer.isOpened(), "this OpenCV build cannot write MJPG")
    stream = SyntheticStream(test_faces, 1)
    for i in range(12):
        writer.write(stream.frame(i)[0])
    writer.release()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        doc = bench_live(video=str(path), frames=100, pipeline=pipeline)
    assert doc["runs"]["video"]["frames"] == 12 - 5  # all frames read, the first five not timed
    assert doc["runs"]["video"]["faces_per_frame"] > 0.5
    assert "frames/s" in buf.getvalue()
    with pytest.raises(FileNotFoundError):
        bench_live(video=str(tmp_path / "missing.mp4"), pipeline=pipeline)


def test_bench_command_line_parser():
    from maskdash.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["bench", "live", "--video", "x.mp4", "--detector", "yunet", "--json"])
    assert args.video == "x.mp4" and args.detector == "yunet" and args.json and callable(args.fn)
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "live", "--detector", "haar"])
