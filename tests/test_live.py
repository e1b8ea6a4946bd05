"""maskdash.inference.live without Streamlit: ICE settings, the steady verdict, the door monitor and the
hand-off object between the video thread and the page, fed real Face Mask 12K faces through the
real pipeline."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from live_video import face_frame
from maskdash import charts, files
from maskdash.inference import live, monitor
from maskdash.inference.bench import CLEAR_FACES
from maskdash.inference.results import Face

FOLDERS = {"with_mask": "WithMask", "without_mask": "WithoutMask"}


# -- ICE ---------------------------------------------------------------------------------------------
def test_ice_servers_default_is_empty_never_a_public_host():
    servers, source = live.ice_servers(secrets=None, environ={})
    assert servers == [] and "default" in source
    assert live.rtc_configuration(servers) == {"iceServers": []}


def test_ice_servers_from_env_and_secrets():
    turn = [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]
    secrets = {"ice_servers": [{"urls": "stun:stun.example.org:3478"}]}
    assert live.ice_servers(secrets, environ={}) == ([{"urls": "stun:stun.example.org:3478"}], "secrets (ice_servers)")
    servers, source = live.ice_servers(secrets, environ={live.ICE_ENV: json.dumps(turn)})
    assert servers == turn and live.ICE_ENV in source  # the environment wins
    # a single server given as a mapping is accepted
    assert live.parse_ice_servers({"urls": "turns:t.example.org:443"}) == [{"urls": "turns:t.example.org:443"}]


@pytest.mark.parametrize("bad, why", [
    ("[{", "not valid JSON"),
    ('{"url": "stun:x"}', "'urls'"),
    ('[{"urls": "http://x"}]', "stun:/turn:"),
    ('[{"urls": []}]', "stun:/turn:"),
    ("42", "must be a list"),
])
def test_bad_ice_settings_get_a_clear_message(bad, why):
    with pytest.raises(live.IceConfigError, match=why.replace("(", r"\(")):
        live.ice_servers(None, environ={live.ICE_ENV: bad})


# -- verdicts and the door monitor ------------------------------------------------------------------
def face(track_id: int, verdict: str) -> Face:
    return Face((0, 0, 10, 10), 0.9, p_mask=0.5, label=verdict, track_id=track_id, p_smooth=0.5, frames_seen=5)


def test_steady_verdict_and_its_text():
    assert live.steady_verdict([]) is None
    assert live.steady_verdict([face(1, "uncertain")]) == "uncertain"
    assert live.steady_verdict([face(1, "with_mask"), face(2, "uncertain")]) == "with_mask"
    assert live.steady_verdict([face(1, "with_mask"), face(2, "without_mask")]) == "without_mask"
    assert live.verdict_text("with_mask", 1) == "😷 You are wearing a mask"
    assert live.verdict_text("without_mask", 1) == "😃 You are not wearing a mask"
    assert "No face" in live.verdict_text(None, 0)
    assert "Not everyone" in live.verdict_text("without_mask", 2)


def test_a_mask_below_the_nose_is_said_plainly_and_is_not_compliant():
    assert live.steady_verdict([face(1, "mask_incorrect")]) == "mask_incorrect"
    assert live.steady_verdict([face(1, "with_mask"), face(2, "mask_incorrect")]) == "mask_incorrect"
    # no mask at all is the worse of the two
    assert live.steady_verdict([face(1, "without_mask"), face(2, "mask_incorrect")]) == "without_mask"
    assert live.verdict_text("mask_incorrect", 1) == "⚠️ Mask worn below the nose — not compliant"
    assert "below the nose" in live.verdict_text("mask_incorrect", 3)
    assert "not compliant" in live.verdict_text("mask_incorrect", 3)
    assert live.face_verdict("mask_incorrect") == "mask worn below the nose — not compliant"
    assert live.face_verdict("with_mask") == "mask"
    alert = monitor.Alert(1, 0.0, 1, 7, 0.2, "mask_incorrect")
    assert live.alert_text(alert).startswith("**Mask worn below the nose at the door** (face 7")
    assert live.alert_text(monitor.Alert(2, 0.0, 1, 8, 0.1)).startswith("**Unmasked person at the door**")


def test_door_monitor_keeps_one_minute_of_seconds():
    mon = monitor.MinuteSeries(window_s=60)
    for t in np.arange(1000.0, 1010.0, 0.25):  # 10 s, one person masked, then a second unmasked
        faces = [face(1, "with_mask")] + ([face(2, "without_mask")] if t >= 1005 else [])
        mon.add(float(t), faces)
    rows = mon.series(now=1009.5)
    assert len(rows) == 60 and rows[-1]["seconds_ago"] == 0 and rows[0]["seconds_ago"] == -59
    assert [r["faces"] for r in rows[-10:]] == [1] * 5 + [2] * 5
    assert rows[-6]["share_masked"] == 1.0 and rows[-1]["share_masked"] == 0.5
    assert rows[0]["faces"] == 0 and rows[0]["share_masked"] is None
    tot = mon.totals(now=1009.5)
    assert tot["people"] == 2 and tot["share_masked"] == pytest.approx((20 + 20) / (20 + 40))
    mon.add(1100.0, [])  # a minute later the old seconds are gone
    assert mon.totals(now=1100.0) == {"people": 0, "share_masked": None}
    assert sum(r["faces"] for r in mon.series(now=1100.0)) == 0
    fig = charts.door_chart(mon.series(now=1009.5))
    assert [t.name for t in fig.data] == ["faces in view", "% masked"]


def test_write_json_atomic(tmp_path):
    path = tmp_path / "sub" / "results.json"
    files.write_json_atomic(path, {"a": 1})
    files.write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp files left

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        files.write_atomic(path, broken)
    assert json.loads(path.read_text()) == {"a": 2}  # the old file stays whole
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


# -- LiveState with the real pipeline --------------------------------------------------------------
@pytest.fixture(scope="module")
def pipeline():
    from maskdash.model.runtime import load_classifier
    from maskdash.inference.pipeline import FramePipeline, PipelineConfig

    clf = load_classifier(threads=1)  # the shipped model
    return FramePipeline(clf, PipelineConfig(detector="blazeface"), warm_up=False)


@pytest.fixture(scope="module")
def frames(fm12k) -> dict[str, list[np.ndarray]]:
    return {label: [face_frame(fm12k / "Test" / FOLDERS[label] / n) for n in CLEAR_FACES[label][:3]]
            for label in FOLDERS}


class Clock:
    def __init__(self, t: float = 5000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("label", ["with_mask", "without_mask"])
def test_live_state_reports_the_steady_verdict(pipeline, frames, label):
    clock = Clock()
    state = live.LiveState(pipeline, clock=clock)
    assert state.snapshot().frames == 0 and state.snapshot().frame_age_s is None
    for frame in frames[label]:
        for _ in range(4):
            out = state.process(frame)
            clock.t += 0.1
            assert out.shape == frame.shape and not np.array_equal(out, frame)  # annotated
    snap = state.snapshot()
    assert snap.frames == 12 and snap.streams == 1 and snap.error is None
    assert snap.verdict == label and len(snap.faces) == 1 and snap.faces[0].label == label
    assert snap.frame_age_s == pytest.approx(0.1) and not snap.stalled
    data = snap.to_json(playing=True)
    json.dumps(data)  # serialisable (NaN probabilities become null)
    assert data["verdict"] == label and data["faces"][0]["verdict"] == label
    assert snap.totals["people"] >= 1 and snap.series[-1]["faces"] == 1

    clock.t += 10
    assert state.snapshot().stalled  # no frame for 10 s while playing → the page says so
    state.end_stream()  # Stop: tracks dropped; the next frame starts a new stream
    state.process(frames[label][0])
    snap = state.snapshot()
    assert snap.streams == 2 and snap.frames == 1 and snap.faces[0].label == "uncertain"
    assert snap.totals["people"] >= 2  # the minute's monitor spans both streams


def test_live_state_survives_bad_frames_and_threads(pipeline, frames):
    state = live.LiveState(pipeline)
    bad = np.zeros((480, 640, 3), np.float32)
    assert state.process(bad) is bad  # passed through, never raised into the video thread
    assert "uint8" in state.snapshot().error
    # the video thread and the page's thread at once
    errors = []

    def video():
        try:
            for f in frames["with_mask"] * 3:
                state.process(f)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    t = threading.Thread(target=video)
    t.start()
    while t.is_alive():
        state.snapshot()
    t.join()
    snap = state.snapshot()
    assert not errors and snap.frames == 9 and snap.error is None



# -- one speed figure -------------------------------------------------------------------------------
def test_speed_meter_counts_frames_delivered_in_its_window():
    from maskdash.inference.pipeline import Speed, SpeedMeter

    meter = SpeedMeter(window_s=2.0, clock=lambda: 0.0)
    assert meter.read(0.0) == Speed(0.0, 0.0)
    for i in range(31):  # 10 frames/s for 3 s, 40 ms of processing each, 20 ms from 2 s on
        meter.add(40.0 if i < 20 else 20.0, at=i * 0.1)
    s = meter.read(3.0)  # the 20 frames from 1.1 s to 3.0 s
    assert s.fps == pytest.approx(10.0) and s.ms == pytest.approx((9 * 40 + 11 * 20) / 20)
    assert meter.read(4.0).fps == pytest.approx(9 / 1.9)  # no new frame for 1 s: it falls …
    assert meter.read(5.5) == Speed(0.0, 0.0)  # … to nothing once the window is empty
    assert Speed(29.96, 33.4).text() == "30.0 frames/s, 33 ms a frame"


def test_overlay_and_panel_show_the_same_speed(pipeline, frames, monkeypatch):
    """The read-out drawn on the video and the page's figure are one reading of one meter (the
    stream's), taken once per frame."""
    import maskdash.inference.pipeline as pl

    drawn = []
    real = pl.readout
    monkeypatch.setattr(pl, "readout", lambda image, text: drawn.append(text) or real(image, text))
    state = live.LiveState(pipeline)
    for frame in frames["with_mask"] * 2:
        state.process(frame)
    snap = state.snapshot()
    # the page shows the figure drawn on the latest frame, word for word
    assert drawn[-1].startswith(snap.speed.text() + ", 1 face")
    assert snap.speed.fps > 0 and snap.speed.ms > 0
    assert snap.to_json(True)["fps"] == pytest.approx(snap.speed.fps, abs=0.01)


# -- one verdict per person, the door monitor, mirror, through the real pipeline ---------------------
def test_a_person_replacing_another_is_counted_and_judged_apart(pipeline, frames):
    """An unmasked person steps into the place of a masked one: a new face (new id, uncertain,
    then unmasked), never the first one's green 'mask'; two people in the session log; and an
    alert for the unmasked one only."""
    clock = Clock()
    state = live.LiveState(pipeline, clock=clock)
    state.configure_alerts(frames=4, cooldown_s=30)
    for _ in range(8):
        state.process(frames["with_mask"][0])
        clock.t += 0.1
    first = state.snapshot().faces[0]
    assert first.label == "with_mask" and state.snapshot().alert is None
    seen = []
    for _ in range(12):
        state.process(frames["without_mask"][0])
        clock.t += 0.1
        seen.append(state.snapshot().faces[0])
    newcomer = [f for f in seen if f.track_id != first.track_id]
    assert len(newcomer) >= len(seen) - 1  # the switch is confirmed within change_frames
    assert newcomer[0].label == "uncertain" and newcomer[-1].label == "without_mask"
    assert all(f.label != "with_mask" for f in newcomer)
    snap = state.snapshot()
    assert snap.people == 2 and snap.totals["people"] == 2
    assert snap.alert is not None and snap.alert.track_id == newcomer[0].track_id
    rows = state.session_rows()
    assert [r["verdict"] for r in rows] == ["with_mask", "without_mask"]
    assert state.session_csv().splitlines()[0] == ",".join(monitor.LOG_COLUMNS)


def test_mirror_flips_the_frame_before_the_pipeline(pipeline, frames):
    from maskdash.inference.pipeline import FramePipeline, PipelineConfig

    frame = frames["without_mask"][0].copy()
    frame[:, :320] = 128  # the face's left half hidden: the picture is not symmetric any more
    frame[200:280, 20:120] = (0, 0, 255)  # a red block at the left
    mirrored = FramePipeline(pipeline.classifier, PipelineConfig(mirror=True, show_probabilities=False),
                             detector=pipeline.detector, warm_up=False)
    out, _ = mirrored.session().process(frame)
    assert (out[200:280, 640 - 120:640 - 20] == (0, 0, 255)).all()  # now at the right
    assert not (out[200:280, 20:120] == (0, 0, 255)).all()


def test_turning_the_mirror_on_keeps_each_person(pipeline, frames):
    """Mirroring mid-stream moves a face to the other side of the picture: the tracks are mirrored
    with it, so the person keeps their track, verdict and history (not counted twice)."""
    from maskdash.inference.pipeline import FramePipeline, PipelineConfig

    frame = np.roll(frames["without_mask"][0], -160, axis=1)  # the face left of the middle
    pipe = FramePipeline(pipeline.classifier, PipelineConfig(), detector=pipeline.detector, warm_up=False)
    state = live.LiveState(pipe)
    for _ in range(5):
        state.process(frame)
    before = state.snapshot().faces[0]
    pipe.update_config(mirror=True)
    for _ in range(3):
        state.process(frame)
    after = state.snapshot()
    face = after.faces[0]
    assert face.box[0] > 320 > before.box[2]  # drawn on the other side now
    assert face.track_id == before.track_id and face.frames_seen == 8 and face.label == before.label
    assert after.people == 1


def test_the_latest_frame_relay_skips_frames_instead_of_queueing_them():
    """A consumer slower than its source gets the newest frame each time (frames skipped), never
    a backlog: the Live page's streams go through this relay (views/latest_frames.py)."""
    import asyncio
    import fractions

    import av
    from aiortc import MediaStreamTrack

    from views.latest_frames import LatestFrameRelay

    class Counter(MediaStreamTrack):  # a real track: a frame every 10 ms, numbered by pts
        kind = "video"

        def __init__(self):
            super().__init__()
            self.n = 0

        async def recv(self):
            await asyncio.sleep(0.01)
            self.n += 1
            frame = av.VideoFrame(width=16, height=16, format="yuv420p")
            frame.pts, frame.time_base = self.n, fractions.Fraction(1, 100)
            return frame

    async def consume():
        source = Counter()
        proxy = LatestFrameRelay().subscribe(source)  # the library asks for buffered=True by default
        got = []
        for _ in range(6):
            frame = await proxy.recv()
            got.append((frame.pts, source.n))
            await asyncio.sleep(0.1)  # a slow consumer: ten source frames go by
        proxy.stop()
        return got

    got = asyncio.run(consume())
    assert all(source_n - pts <= 1 for pts, source_n in got), f"a backlog formed: {got}"
    assert got[-1][0] - got[0][0] >= 40, f"frames were not skipped: {got}"
