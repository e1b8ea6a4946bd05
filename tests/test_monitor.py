"""The door monitor without Streamlit or a camera: the alert rule and its cooldown, the session
log and its CSV, the beep, and the live charts drawn from them."""

from __future__ import annotations

import csv
import io
import wave
from datetime import datetime

import pytest

from maskdash import charts
from maskdash.inference import monitor
from maskdash.inference.results import Face
from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK


def face(track_id: int, label: str, p: float = 0.5) -> Face:
    return Face((0, 0, 10, 10), 0.9, p_mask=p, label=label, track_id=track_id, p_smooth=p)


def feed(alerts: monitor.DoorAlerts, frames: list[list[Face]], t0: float = 100.0, dt: float = 0.1, stream: int = 1):
    """Each frame's alerts, one list per frame."""
    return [alerts.update(t0 + i * dt, faces, stream) for i, faces in enumerate(frames)]


def test_alert_fires_for_a_steady_unmasked_face_not_a_masked_one():
    rule = monitor.DoorAlerts(frames=5, cooldown_s=30)
    out = feed(rule, [[face(1, WITHOUT_MASK, 0.1), face(2, WITH_MASK, 0.9)]] * 8)
    fired = [a for frame in out for a in frame]
    assert [i for i, frame in enumerate(out) if frame] == [4]  # on the 5th unmasked frame, once
    assert len(fired) == 1 and fired[0].track_id == 1 and fired[0].id == 1
    assert fired[0].stream == 1 and fired[0].p_mask == pytest.approx(0.1) and fired[0].time == pytest.approx(100.4)


def test_a_mask_below_the_nose_alerts_as_not_compliant():
    rule = monitor.DoorAlerts(frames=4, cooldown_s=30)
    out = feed(rule, [[face(1, INCORRECT, 0.2), face(2, WITH_MASK, 0.9)]] * 5)
    fired = [a for frame in out for a in frame]
    assert [i for i, frame in enumerate(out) if frame] == [3]
    assert fired[0].track_id == 1 and fired[0].verdict == INCORRECT
    # no mask and a mask below the nose, in any mix, make one run of not-compliant frames
    mixed = [[face(3, WITHOUT_MASK)], [face(3, INCORRECT)], [face(3, WITHOUT_MASK)], [face(3, INCORRECT)]]
    assert [bool(a) for a in feed(monitor.DoorAlerts(frames=4), mixed)] == [False] * 3 + [True]
    assert not monitor.not_compliant(UNCERTAIN) and not monitor.not_compliant(WITH_MASK)


def test_alert_needs_the_frames_in_a_row():
    rule = monitor.DoorAlerts(frames=4, cooldown_s=0)
    flicker = [[face(1, WITHOUT_MASK)]] * 3 + [[face(1, UNCERTAIN)]] + [[face(1, WITHOUT_MASK)]] * 3
    assert not any(feed(rule, flicker))
    gap = [[face(1, WITHOUT_MASK)]] * 2 + [[]] * 3 + [[face(1, WITHOUT_MASK)]] * 2  # out of view: no reset
    assert [bool(a) for a in feed(monitor.DoorAlerts(frames=4), gap)] == [False] * 6 + [True]


def test_cooldown_holds_per_person():
    rule = monitor.DoorAlerts(frames=2, cooldown_s=10)
    out = feed(rule, [[face(1, WITHOUT_MASK)]] * 60, dt=0.5)  # 30 s of the same unmasked person
    times = [a.time for frame in out for a in frame]
    assert times == [100.5, 110.5, 120.5]  # every 10 s, not every frame
    # another person is not held back by the first one's cooldown; ids keep counting
    more = feed(rule, [[face(1, WITHOUT_MASK), face(2, WITHOUT_MASK)]] * 2, t0=125.0)
    assert [(a.track_id, a.id) for frame in more for a in frame] == [(2, 4)]
    # the same track id on another stream is another person
    other = feed(rule, [[face(1, WITHOUT_MASK)]] * 2, t0=126.0, stream=2)
    assert [a.track_id for frame in other for a in frame] == [1]
    with pytest.raises(ValueError):
        rule.configure(0, 10)


def test_session_log_rows_and_csv():
    log = monitor.SessionLog()
    # person 1 masked over 3 frames (undecided first), person 2 unmasked from frame 2 on; stream 2
    # restarts track ids: its track 1 is a third person
    log.add(1000.0, [face(1, UNCERTAIN, 0.8)], stream=1)
    log.add(1001.0, [face(1, WITH_MASK, 0.9), face(2, UNCERTAIN, float("nan"))], stream=1)
    log.add(1002.5, [face(1, WITH_MASK, 1.0), face(2, WITHOUT_MASK, 0.1)], stream=1)
    log.add(2000.0, [face(1, UNCERTAIN, 0.4)], stream=2)
    assert log.people == 3
    rows = log.rows()
    assert [r["person"] for r in rows] == [1, 2, 3]
    assert [(r["stream"], r["track_id"]) for r in rows] == [(1, 1), (1, 2), (2, 1)]
    assert [r["verdict"] for r in rows] == [WITH_MASK, WITHOUT_MASK, UNCERTAIN]
    assert [r["frames"] for r in rows] == [3, 2, 1]
    assert [r["seconds"] for r in rows] == [2.5, 1.5, 0.0]
    assert rows[0]["mean_p_mask"] == pytest.approx(0.9) and rows[1]["mean_p_mask"] == pytest.approx(0.1)
    assert datetime.fromisoformat(rows[0]["start"]).timestamp() == 1000.0  # ISO 8601 with the UTC offset
    assert datetime.fromisoformat(rows[0]["end"]).timestamp() == pytest.approx(1002.5, abs=0.5)
    parsed = list(csv.DictReader(io.StringIO(log.csv())))
    assert list(parsed[0]) == monitor.LOG_COLUMNS
    assert len(parsed) == 3 and parsed[1]["verdict"] == WITHOUT_MASK and parsed[2]["frames"] == "1"
    assert parsed[0]["start"] == rows[0]["start"] and parsed[0]["end"] == rows[0]["end"]
    assert monitor.log_csv([]).strip() == ",".join(monitor.LOG_COLUMNS)  # an empty session: the header


def test_session_log_is_bounded_but_counts_everyone():
    log = monitor.SessionLog(max_people=3)
    for i in range(5):
        log.add(float(i), [face(i, WITH_MASK)])
    assert log.people == 5 and [r["person"] for r in log.rows()] == [3, 4, 5]


def test_beep_is_a_short_wav():
    data = monitor.beep_wav(seconds=0.2, repeats=2, rate=8000)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == 2 * (1600 + 800)


def test_session_chart_one_bar_per_person_coloured_by_verdict():
    log = monitor.SessionLog()
    log.add(1000.0, [face(1, WITH_MASK), face(2, WITHOUT_MASK)])
    log.add(1004.0, [face(1, WITH_MASK)])
    fig = charts.session_chart(log.rows())
    assert [t.name for t in fig.data] == ["with mask", "without mask"]
    assert list(fig.data[0].y) == ["#1"] and list(fig.data[1].y) == ["#2"]
    assert list(fig.data[0].x) == [4000.0] and list(fig.data[1].x) == [1000.0]  # one frame: 1 s wide
    assert fig.data[1].marker.color == charts.VERDICT_COLORS[WITHOUT_MASK]
    assert charts.session_chart([]).data == ()
