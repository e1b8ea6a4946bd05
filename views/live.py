"""Live: the webcam through the face detector and the mask classifier, a steady verdict beside
the video, and a door monitor: an alert (banner, optional sound) for an unmasked face, the last
minute and the whole session's people (chart, CSV).

The frame callback runs on streamlit-webrtc's worker thread: it converts the frame, runs this
browser session's pipeline through `LiveState.process` and returns the annotated frame — no st.*
and no session_state there. The page reads `LiveState.snapshot()` in a fragment that refreshes
itself while the camera plays.

Everything interactive (the camera component and the settings) lives in a fragment, so clicks,
slider moves and the component's own signalling rerun only that fragment, never the whole page.
This keeps streams alive: streamlit-webrtc ≥ 0.72.1 resets a stream when it sees the script-run
counter jump by two between its renders (meant for "the user left the page and came back"), and
that counter, bumped on the server's event-loop thread after each successful full run, reads
stale under CPU load when full runs follow each other closely. Fragment runs never bump it; full
runs then happen only on page load and navigation (a jump there is the intended reset) and right
after the library's own rerun(), whose calling run does not count — so no spurious jump remains."""

from __future__ import annotations

import hashlib
import math
import os
import time

import av
import streamlit as st

from maskdash import charts, files
from maskdash.inference import live, monitor, sources
from maskdash.inference.detection import DEFAULT_THRESHOLDS, DETECTORS, LABELS, DetectorUnavailable
from maskdash.inference.pipeline import FramePipeline, PipelineConfig
from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK
from views import latest_frames
from views.glossary import term
from views.common import get_classifier, get_detector

# After views.common, which loads aiortc's SRTP library safely (TensorFlow may already be loaded).
from streamlit_webrtc import WebRtcMode, webrtc_streamer  # noqa: E402  isort: skip
from streamlit_webrtc.webrtc import SignallingTimeoutError  # noqa: E402  isort: skip

REFRESH_S = 1.0  # how often the verdict and the face list refresh while playing
MONITOR_REFRESH_S = 5.0  # how often the door monitor's charts do
STATE_KEY = "live_state"  # this browser session's LiveState (pipeline + results) in session_state
WEBRTC_KEY = "live_camera"
ICONS = {WITH_MASK: "😷", WITHOUT_MASK: "😃", INCORRECT: "⚠️", UNCERTAIN: "🤔"}
ALERT_SHOWN_S = 10.0  # how long the alert banner stays after the alert
PLAYED_KEY = "live_alert_played"  # id of the latest alert whose sound was played
SOURCES = {"webcam": "Webcam", "file": "Video file", "url": "Stream URL"}
PLAN_KEY = "live_camera_plan"  # the CameraPlan of this session's camera (kept while it plays)
PLAYING_KEY = "live_was_playing"
SHORT_LABELS = {"blazeface": "BlazeFace short range", "blazeface-full": "BlazeFace full range", "yunet": "YuNet"}


def controls() -> dict:
    """The settings, as PipelineConfig fields; they apply to a running stream at once. Beside the
    video rather than in the sidebar: a fragment cannot draw into the sidebar."""
    with st.expander("Detection settings", expanded=True, icon=":material/tune:"):
        left, right = st.columns(2)
        detector = left.selectbox("Face detector", DETECTORS, format_func=lambda n: SHORT_LABELS.get(n, n),
                                  key="live_detector", help="BlazeFace short range is fastest and best at webcam distance; "
                                       "full range and YuNet find smaller, farther faces (YuNet is the best "
                                       "all-rounder on photos, masked faces included).")
        det_threshold = right.slider(
            "Detection threshold", 0.05, 0.95, float(DEFAULT_THRESHOLDS[detector]), 0.05,
            key=f"live_det_threshold_{detector}",  # each detector keeps its own (different defaults)
            help="Lower finds more faces (masked faces score lower), higher gives fewer false faces.")
        mask_threshold = left.slider("Mask threshold", 0.05, 0.95, 0.5, 0.05, key="live_mask_threshold",
                                     help="p(mask) at or above which a face counts as masked.")
        window = right.slider("Smoothing window", 1, 30, PipelineConfig().smoothing_window, key="live_window",
                              help="Classifications averaged per face before its verdict changes: larger "
                                   "is steadier, smaller reacts faster.")
        show_p = left.toggle("Show probabilities", True, key="live_show_p",
                             help="Draw beside each label how sure the model is of it (smoothed): p(mask), p(mask below nose) or p(no mask).")
        # The frame is flipped before the pipeline rather than the video element with CSS: a
        # mirrored element would mirror the drawn labels and read-out too, unreadable.
        mirror = right.toggle("Mirror the video", False, key="live_mirror",
                              help="Show the camera as a mirror (as a selfie camera does). Leave off for "
                                   "a camera watching a door.")
    return dict(detector=detector, det_threshold=det_threshold, mask_threshold=mask_threshold,
                smoothing_window=window, show_probabilities=show_p, mirror=mirror)


def alert_controls() -> dict:
    with st.expander("Door alerts", icon=":material/notifications:"):
        left, right = st.columns(2)
        frames = left.slider("Alert after (frames)", 1, 90, monitor.ALERT_FRAMES, key="live_alert_frames",
                             help="A not-compliant verdict (no mask, or a mask below the nose) must hold this "
                                  "many frames in a row before it alerts.")
        cooldown = right.slider("Cooldown per person (s)", 0, 300, int(monitor.ALERT_COOLDOWN_S), 5,
                                key="live_alert_cooldown", help="The same person alerts again at most this often.")
        sound = left.toggle("Sound", False, key="live_alert_sound",
                            help="Beep in this browser on each alert (the browser may ask to allow sound).")
    return dict(frames=frames, cooldown_s=cooldown, sound=sound)


def live_state() -> live.LiveState | None:
    """This browser session's pipeline and results (created once; the classifier and the first
    detector are shared by all sessions). None, with the reason on screen, when a model is missing."""
    state = st.session_state.get(STATE_KEY)
    if state is not None:
        return state
    try:
        classifier = get_classifier(live=True)
    except (FileNotFoundError, ValueError) as exc:  # ModelFileError is a ValueError
        st.error(f"The mask classifier could not be loaded: {exc}. Train it with "
                 "`python -m maskdash train --recipe robust`, or set `MASKDASH_MODEL` to a `.keras` or "
                 "`.tflite` file.", icon=":material/error:")
        return None
    name = st.session_state.get("live_detector", PipelineConfig().detector)
    try:
        detector, message = get_detector(name)
    except DetectorUnavailable as exc:
        st.error(f"No face detector is available: {exc}", icon=":material/error:")
        return None
    pipeline = FramePipeline(classifier, PipelineConfig(detector=name), detector=detector, warm_up=False)
    pipeline.message = message
    state = st.session_state[STATE_KEY] = live.LiveState(pipeline)
    return state


def apply(pipeline: FramePipeline, settings: dict) -> None:
    """Push changed settings into the running pipeline (the stream keeps going)."""
    current = pipeline.config
    if all(getattr(current, k) == v for k, v in settings.items()):
        return
    try:
        with st.spinner("Applying the new settings…"):
            pipeline.update_config(**settings)
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")


def frame_callback(state: live.LiveState):
    def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
        out = state.process(frame.to_ndarray(format="bgr24"))
        return av.VideoFrame.from_ndarray(out, format="bgr24")

    return on_frame


def ice_settings() -> tuple[list[dict], str] | None:
    """(ICE servers, where they came from), or None with the error on screen."""
    try:
        return live.ice_servers(st.secrets if _has_secrets() else None)
    except live.IceConfigError as exc:
        st.error(f"The ICE server settings are invalid: {exc}", icon=":material/error:")
        return None


def _has_secrets() -> bool:
    """st.secrets raises when no secrets.toml exists; that just means 'not configured'."""
    try:
        return "ice_servers" in st.secrets
    except Exception:  # FileNotFoundError / StreamlitSecretNotFoundError, depending on the version
        return False


def alert_banner(alert: monitor.Alert | None, sound: bool) -> None:
    """A recent alert as a banner; its beep is played once (on the run that first shows it)."""
    if alert is None or time.time() - alert.time > ALERT_SHOWN_S:
        return
    st.error(f"{live.alert_text(alert)}.", icon=":material/campaign:")
    if sound and alert.id > st.session_state.get(PLAYED_KEY, 0):
        st.audio(beep(), format="audio/wav", autoplay=True)
    st.session_state[PLAYED_KEY] = max(alert.id, st.session_state.get(PLAYED_KEY, 0))


@st.cache_data
def beep() -> bytes:
    return monitor.beep_wav()


def face_lines(snap: live.LiveSnapshot, show_p: bool) -> str:
    lines = []
    for f in sorted(snap.faces, key=lambda f: f.box[0]):
        label = live.face_verdict(f.label)
        p = "" if not show_p or math.isnan(f.p_smooth) else f" · p(mask) {f.p_smooth:.2f}"
        if show_p and not math.isnan(f.p_incorrect_smooth):
            p += f" · p(below nose) {f.p_incorrect_smooth:.2f}"
        lines.append(f"- {ICONS.get(f.label, '')} **Face {f.track_id}**: {label}{p} "
                     f"<span style='color:gray'>(seen {f.frames_seen} frames)</span>")
    return "\n".join(lines)


def results_panel(state: live.LiveState, playing: bool, show_p: bool, sound: bool, source: str = "webcam",
                  ready: bool = True) -> None:
    @st.fragment(run_every=REFRESH_S if playing else None)
    def panel():
        snap = state.snapshot()
        results_file = os.environ.get(live.RESULTS_ENV, "").strip()
        if results_file:  # written here, on the page's thread, never by the frame callback
            files.write_json_atomic(results_file, snap.to_json(playing), indent=None)

        if not playing and not ready:
            what = "Choose a video file" if source == "file" else "Enter a stream URL"
            st.info(f"**Not playing.** {what} in the left column (another one, if it could not be opened): once it "
                    "opens, the video appears there with a **START** button under it.", icon=":material/play_circle:")
        elif not playing and source != "webcam":
            st.info(f"**Not playing.** Press **START** under the video to run the {SOURCES[source].lower()} "
                    "through the detector and the classifier.", icon=":material/play_circle:")
        elif not playing:
            st.info("**Camera off.** Press **START** under the video and allow camera access when the "
                    "browser asks. If nothing happens, the camera is blocked: allow it for this site "
                    "(camera icon in the address bar) and press START again. Camera access needs "
                    "`localhost` or HTTPS.", icon=":material/videocam_off:")
            if snap.frames:
                st.caption(f"Last stream: {snap.frames} frames processed ({snap.speed.text()}).")
        elif snap.frame_age_s is None:
            st.info("Connecting to the camera…", icon=":material/hourglass_top:")
        elif snap.stalled:
            st.warning(f"No video for {snap.frame_age_s:.0f} s: the connection may have dropped. "
                       "Press STOP, then START.", icon=":material/signal_disconnected:")
        else:
            alert_banner(snap.alert, sound)
            st.markdown(f"### {live.verdict_text(snap.verdict, len(snap.faces))}")
            if snap.faces:
                st.markdown(face_lines(snap, show_p), unsafe_allow_html=True)
            else:
                st.caption(f"Step in front of the camera. {term('BlazeFace / YuNet', 'BlazeFace')} short range finds faces at webcam "
                           "distance; for faces farther away choose full range or YuNet under "
                           "**Detection settings**, below the video.")
            # The same meter as the read-out on the video (maskdash.inference.pipeline.SpeedMeter).
            st.caption(f"{snap.speed.text()} (detect, classify, draw) · detector: "
                       f"{LABELS.get(snap.detector, snap.detector)}")
        if snap.error:
            st.error(f"The last frame could not be processed: {snap.error}", icon=":material/error:")

    # The charts refresh less often than the verdict: building two plotly figures costs more CPU
    # than the frames' pipeline itself, once per viewer per refresh.
    @st.fragment(run_every=MONITOR_REFRESH_S if playing else None)
    def monitor_panel():
        snap = state.snapshot()
        st.markdown("**Door monitor: the last minute**")
        totals = snap.totals
        share = "–" if totals["share_masked"] is None else f"{100 * totals['share_masked']:.0f} %"
        st.caption(f"People seen: {totals['people']} · masked: {share}")
        st.plotly_chart(charts.door_chart(list(snap.series)), key="live_door_chart",
                        config={"displayModeBar": False})
        session_log(state, snap.people)

    panel()
    monitor_panel()


def session_log(state: live.LiveState, people: int) -> None:
    st.markdown("**Door monitor: this session**")
    if not people:
        st.caption("Nobody seen yet in this session.")
        return
    rows = state.session_rows()
    st.caption(f"People seen since the page was opened: {people}.")
    st.plotly_chart(charts.session_chart(rows), key="live_session_chart", config={"displayModeBar": False})
    # The CSV is built only when clicked, and the click does not rerun anything.
    st.download_button("Download the session log (CSV)", data=state.session_csv, file_name="maskdash_live_log.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:", key="live_log_csv")


def camera_plan(state: live.LiveState) -> live.CameraPlan:
    """The size and rate to ask the camera for: decided from the other streams on this server while
    the camera is off, kept while it plays (the browser applies it when START is pressed)."""
    plan = st.session_state.get(PLAN_KEY)
    if plan is None or not st.session_state.get(PLAYING_KEY, False):
        plan = st.session_state[PLAN_KEY] = live.camera_plan(live.active_streams(exclude=state))
    return plan


def streamer(state: live.LiveState, ice: tuple[list[dict], str], key: str, **source):
    """The streamlit-webrtc component for one source; None, with a message and a retry, when the
    server could not set the stream up in time (a busy server: the library gives up after 10 s)."""
    try:
        return webrtc_streamer(
            key=key,
            rtc_configuration=live.rtc_configuration(ice[0]),  # explicit, even empty: no public STUN default
            video_frame_callback=frame_callback(state),
            on_video_ended=state.end_stream,
            async_processing=True,
            **source,
        )
    except SignallingTimeoutError:
        st.warning("**The video could not be set up in time**: the server is busy "
                   f"({live.active_streams(exclude=state)} other streams running). Try again; if it keeps "
                   "happening, try again when fewer people are watching.", icon=":material/hourglass_disabled:")
        st.button("Try again", icon=":material/refresh:", key="live_retry")  # a click reruns this part
        return None


def camera(state: live.LiveState, ice: tuple[list[dict], str], plan: live.CameraPlan):
    """The browser's camera, sent to the server and back annotated."""
    return streamer(state, ice, WEBRTC_KEY, mode=WebRtcMode.SENDRECV, media_stream_constraints=plan.constraints)


@st.cache_data(ttl=60, show_spinner="Opening the video…", max_entries=8)
def check_source(kind: str, source: str | bytes, name: str) -> sources.VideoInfo:
    """Open an uploaded video or a URL once (cached a minute): raises VideoSourceError with what
    is wrong."""
    return sources.check_bytes(source, name) if kind == "file" else sources.check_url(source)


def pick_source() -> dict | None:
    """The chosen source: {"kind", "source", "name"}; None (with the reason shown) when a file or
    URL is still missing or cannot be played."""
    kind = st.segmented_control("Source", list(SOURCES), format_func=SOURCES.get, default="webcam",
                                key="live_source") or "webcam"
    if kind == "webcam":
        return {"kind": kind, "source": "", "name": "webcam"}
    if kind == "file":
        upload = st.file_uploader("Video file", type=sources.VIDEO_TYPES, key="live_video_file",
                                  help="Played on the server, in a loop, through the same pipeline as the webcam.")
        if upload is None:
            return None
        source, name = upload.getvalue(), upload.name  # played from memory: nothing written to disk
    else:
        source = st.text_input("Stream URL", key="live_url", placeholder="rtsp://camera.local:554/stream",
                               help="An IP camera's RTSP or HTTP(S) address, read by this server.").strip()
        if not source:
            return None
        name = sources.shown_url(source)  # a camera's password never reaches the page
    try:
        info = check_source(kind, source, name)
    except sources.VideoSourceError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    st.caption(f"{name}: {info.text}" + (", played in a loop." if kind == "file" else "."))
    return {"kind": kind, "source": source, "name": name}


def player(state: live.LiveState, ice: tuple[list[dict], str], src: dict):
    """A file or URL played on the server and sent to this page, through the same callback."""
    raw = src["source"] if isinstance(src["source"], bytes) else src["source"].encode()
    digest = hashlib.sha1(raw).hexdigest()[:10]  # a new source, a new stream
    return streamer(state, ice, f"live_{src['kind']}_{digest}", mode=WebRtcMode.RECVONLY,
                    media_stream_constraints={"video": True, "audio": False},
                    player_factory=lambda: sources.player(src["source"], loop=src["kind"] == "file"))


def live_view(state: live.LiveState, ice: tuple[list[dict], str]) -> None:
    video_col, info_col = st.columns([3, 2], gap="large")
    with video_col:
        src = pick_source()
        ctx = None
        if src and src["kind"] == "webcam":
            plan = camera_plan(state)
            ctx = camera(state, ice, plan)
            st.caption(plan.text)
        elif src:
            ctx = player(state, ice, src)
        playing = bool(ctx and ctx.state.playing)
        st.session_state[PLAYING_KEY] = playing
        settings = controls()
        apply(state.pipeline, settings)
        alerts = alert_controls()
        state.configure_alerts(alerts["frames"], alerts["cooldown_s"])
        if state.pipeline.message:  # the chosen detector is missing; another one is used
            st.warning(state.pipeline.message, icon=":material/warning:")
        # Only someone deploying the app needs this; local use works without it.
        with st.expander("Deploying: connection settings", icon=":material/settings_ethernet:"):
            if not ice[0]:
                st.caption("No ICE servers configured: the video works when the browser can reach this "
                           f"server directly (same machine or network). Set `{live.ICE_ENV}` or the "
                           "`ice_servers` secret (a TURN server) for viewers elsewhere.")
            else:
                st.caption(f"ICE servers: {len(ice[0])} from {ice[1]}.")
    with info_col:
        kind = src["kind"] if src else (st.session_state.get("live_source") or "webcam")
        results_panel(state, playing, settings["show_probabilities"], alerts["sound"], kind, ready=src is not None)


st.title("Live")
st.caption("Your camera — or a video file, or an IP camera's stream — checked frame by frame for faces "
           "and masks. The video goes to this app's server only, is processed in memory and never stored.")

latest_frames.install()  # before the first stream: under load, skip frames rather than queue them
state = live_state()
ice = ice_settings()
if state is None or ice is None:
    st.stop()
st.fragment(live_view)(state, ice)
