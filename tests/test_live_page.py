"""The Live page through Streamlit's AppTest (no browser): its controls and what they do to the
running pipeline, and its clear states — camera off, a missing detector (fallback message), a
missing model, bad ICE settings. The stream itself is covered by test_live_browser.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import views.common  # noqa: F401  first: loads aiortc's SRTP library safely beside TensorFlow
from live_video import face_frame
from maskdash import settings
from maskdash.inference.bench import CLEAR_FACES

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "views" / "live.py")
TIMEOUT = 240  # the first run in a process imports TensorFlow and loads the model on a small CPU


@pytest.fixture(autouse=True)
def no_session_manager(monkeypatch):
    """AppTest stands in a mock Runtime without a session manager, where streamlit-webrtc's
    session lookup raises AttributeError; outside a live server that lookup is meant to return
    None (streamlit_webrtc/session_info.py), which the component handles. Give it that."""
    import streamlit_webrtc.component

    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)


@pytest.fixture
def model(monkeypatch):
    """The shipped model, with no ICE servers configured."""
    monkeypatch.delenv("MASKDASH_MODEL", raising=False)
    monkeypatch.delenv("MASKDASH_ICE_SERVERS", raising=False)
    assert (settings.shipped_model_dir() / "model.tflite").is_file(), "the shipped model is missing"


def run_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "caption", "info", "warning", "error") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_page_renders_camera_off_with_its_controls(model):
    at = run_page()
    assert at.title[0].value == "Live"
    assert at.selectbox(key="live_detector").value == "blazeface"
    assert at.slider(key="live_det_threshold_blazeface").value == 0.5
    assert at.slider(key="live_mask_threshold").value == 0.5
    assert at.slider(key="live_window").value == 10
    assert at.toggle(key="live_show_p").value is True
    assert at.toggle(key="live_mirror").value is False
    assert at.slider(key="live_alert_frames").value == 15 and at.toggle(key="live_alert_sound").value is False
    assert any("Camera off" in i.value for i in at.info)  # nothing plays without a browser
    assert "No ICE servers configured" in texts(at)
    assert "Door monitor" in texts(at)
    assert "Nobody seen yet in this session" in texts(at)
    assert any(e.label.startswith("Deploying") for e in at.expander)  # the ICE note, for deployments only
    cfg = at.session_state["live_state"].pipeline.config
    assert (cfg.detector, cfg.det_threshold, cfg.mask_threshold, cfg.smoothing_window) == ("blazeface", 0.5, 0.5, 10)


def test_controls_apply_to_the_running_stream(model, fm12k):
    """Frames flow through the page's LiveState on another thread (as the video callback does);
    changing the controls changes that same pipeline — same stream, same face tracks."""
    at = run_page()
    state = at.session_state["live_state"]
    frame = face_frame(fm12k / "Test" / "WithMask" / CLEAR_FACES["with_mask"][0])
    video = threading.Thread(target=lambda: [state.process(frame) for _ in range(4)])
    video.start()
    video.join()
    before = state.snapshot()
    assert before.frames == 4 and before.detector == "blazeface" and before.faces

    at.selectbox(key="live_detector").set_value("blazeface-full").run()
    at.slider(key="live_mask_threshold").set_value(0.7).run()
    at.slider(key="live_window").set_value(5).run()
    at.toggle(key="live_show_p").set_value(False).run()
    at.toggle(key="live_mirror").set_value(True).run()
    at.slider(key="live_alert_frames").set_value(30).run()
    assert not at.exception, at.exception
    assert at.session_state["live_state"] is state  # not restarted
    cfg = state.pipeline.config
    assert (cfg.detector, cfg.mask_threshold, cfg.smoothing_window, cfg.show_probabilities) == ("blazeface-full", 0.7, 5, False)
    assert cfg.mirror is True and state._alerts.frames == 30
    assert cfg.det_threshold == at.slider(key="live_det_threshold_blazeface-full").value == 0.5

    state.process(frame)
    after = state.snapshot()
    assert after.frames == 5 and after.streams == 1 and after.detector == "blazeface-full"
    assert after.faces and after.faces[0].track_id == before.faces[0].track_id  # the same face track

    # The session's people, their chart and the CSV download (camera off: the panel shows the last stream).
    at.run()
    assert "People seen since the page was opened: 1" in texts(at)
    assert at.get("download_button") and state.session_csv().count("\n") == 2  # header + one person


def test_missing_detector_falls_back_with_a_message(model, tmp_path, monkeypatch):
    from maskdash.inference import detection

    monkeypatch.setenv("MASKDASH_DETECTOR_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("MASKDASH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(detection, "YUNET_URL", "http://127.0.0.1:9/yunet.onnx")  # nothing listens there
    at = run_page()
    at.selectbox(key="live_detector").set_value("yunet").run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("YuNet (OpenCV) is unavailable, using" in w and "MASKDASH_DETECTOR_DIR" in w for w in warnings), warnings
    assert at.session_state["live_state"].pipeline.detector.name != "yunet"


def test_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKDASH_MODEL", str(tmp_path / "nothing.keras"))
    at = run_page()
    errors = [e.value for e in at.error]
    assert any("could not be loaded" in e and "nothing.keras" in e for e in errors), errors
    assert "live_state" not in at.session_state


def test_bad_ice_settings_are_a_clear_error(model, monkeypatch):
    monkeypatch.setenv("MASKDASH_ICE_SERVERS", '[{"urls": "http://not-ice"}]')
    at = run_page()
    errors = [e.value for e in at.error]
    assert any("ICE server settings are invalid" in e and "stun:/turn:" in e for e in errors), errors


def test_configured_ice_servers_are_used(model, monkeypatch):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.secrets["ice_servers"] = [{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]
    at.run()
    assert not at.exception, at.exception
    assert "ICE servers: 1 from secrets (ice_servers)" in texts(at)
    monkeypatch.setenv("MASKDASH_ICE_SERVERS", '[{"urls": "stun:a.example.org"}, {"urls": "stun:b.example.org"}]')
    at.run()
    assert "ICE servers: 2 from environment variable MASKDASH_ICE_SERVERS" in texts(at)


def test_live_page_imports_survive_tensorflow_loaded_first():
    """Visiting a page that loads the model and then Live used to kill the server: aiortc's SRTP
    library segfaulted when loaded after TensorFlow. views.common loads it safely."""
    code = ("import tensorflow, numpy as np; tensorflow.constant(np.zeros(3)); import views.common; "
            "import streamlit_webrtc, aiortc; from pylibsrtp import Policy, Session; "
            "s = Session(policy=Policy(key=b'0' * 30, ssrc_type=Policy.SSRC_ANY_OUTBOUND)); "
            "print(len(s.protect(bytes([128, 8]) + bytes(10) + b'x' * 100)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0 and done.stdout.strip() == "122", (done.returncode, done.stderr[-2000:])


def test_a_signalling_timeout_is_a_message_and_a_retry_not_a_traceback(model, monkeypatch):
    """A server too busy to answer the browser's offer within streamlit-webrtc's 10 s raises
    SignallingTimeoutError from the component call; the page says so and offers a retry."""
    import streamlit_webrtc
    from streamlit_webrtc.webrtc import SignallingTimeoutError

    def too_slow(**_):
        raise SignallingTimeoutError("Processing offer and initializing the worker has not finished in 10 seconds")

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", too_slow)
    at = run_page()
    assert any("could not be set up in time" in w.value for w in at.warning), texts(at)
    assert at.button(key="live_retry").label == "Try again"
    at.button(key="live_retry").click().run()
    assert not at.exception
    assert "Door monitor" in texts(at)  # the rest of the page is still there


def test_the_camera_plan_is_shown_and_follows_the_other_streams(model):
    from maskdash.inference import live

    at = run_page()
    assert any(c.value.startswith("Camera asked for") for c in at.caption), texts(at)
    alone, shared = live.camera_plan(0), live.camera_plan(2)
    assert alone.constraints == live.MEDIA_CONSTRAINTS and "the only stream" in alone.text
    assert shared.constraints == live.SHARED_CONSTRAINTS and "2 other streams" in shared.text
    small = live.SHARED_CONSTRAINTS["video"]
    assert small["width"]["max"] * small["height"]["max"] * small["frameRate"]["max"] < 640 * 480 * 30 / 3
