"""Live: the webcam through the face detector and the mask classifier, a steady verdict beside
the video and a door-monitor chart of the last minute.

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

import math
import os

import av
import streamlit as st

from maskdash.inference import live
from maskdash.inference.detection import DEFAULT_THRESHOLDS, DETECTORS, LABELS, DetectorUnavailable
from maskdash.inference.draw import TEXT
from maskdash.inference.pipeline import FramePipeline, PipelineConfig
from maskdash.labels import UNCERTAIN, WITH_MASK, WITHOUT_MASK
from views.common import get_classifier, get_detector

# After views.common, which loads aiortc's SRTP library safely (TensorFlow may already be loaded).
from streamlit_webrtc import WebRtcMode, webrtc_streamer  # noqa: E402  isort: skip

REFRESH_S = 1.0  # how often the verdict, the face list and the chart refresh while playing
STATE_KEY = "live_state"  # this browser session's LiveState (pipeline + results) in session_state
WEBRTC_KEY = "live_camera"
ICONS = {WITH_MASK: "😷", WITHOUT_MASK: "😃", UNCERTAIN: "🤔"}
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
                             help="Draw each face's smoothed p(mask) next to its label on the video.")
    return dict(detector=detector, det_threshold=det_threshold, mask_threshold=mask_threshold,
                smoothing_window=window, show_probabilities=show_p)


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


def face_lines(snap: live.LiveSnapshot, show_p: bool) -> str:
    lines = []
    for f in sorted(snap.faces, key=lambda f: f.box[0]):
        label = TEXT.get(f.label, f.label)
        p = "" if not show_p or math.isnan(f.p_smooth) else f" · p(mask) {f.p_smooth:.2f}"
        lines.append(f"- {ICONS.get(f.label, '')} **Face {f.track_id}**: {label}{p} "
                     f"<span style='color:gray'>(seen {f.frames_seen} frames)</span>")
    return "\n".join(lines)


def results_panel(state: live.LiveState, playing: bool, show_p: bool) -> None:
    @st.fragment(run_every=REFRESH_S if playing else None)
    def panel():
        snap = state.snapshot()
        results_file = os.environ.get(live.RESULTS_ENV, "").strip()
        if results_file:  # written here, on the page's thread, never by the frame callback
            live.write_json_atomic(results_file, snap.to_json(playing))

        if not playing:
            st.info("**Camera off.** Press **START** under the video and allow camera access when the "
                    "browser asks. If nothing happens, the camera is blocked: allow it for this site "
                    "(camera icon in the address bar) and press START again. Camera access needs "
                    "`localhost` or HTTPS.", icon=":material/videocam_off:")
            if snap.frames:
                st.caption(f"Last stream: {snap.frames} frames processed.")
        elif snap.frame_age_s is None:
            st.info("Connecting to the camera…", icon=":material/hourglass_top:")
        elif snap.stalled:
            st.warning(f"No video for {snap.frame_age_s:.0f} s: the connection may have dropped. "
                       "Press STOP, then START.", icon=":material/signal_disconnected:")
        else:
            st.markdown(f"### {live.verdict_text(snap.verdict, len(snap.faces))}")
            if snap.faces:
                st.markdown(face_lines(snap, show_p), unsafe_allow_html=True)
            else:
                st.caption("Step in front of the camera. BlazeFace short range finds faces at webcam "
                           "distance; choose full range or YuNet in the sidebar for faces farther away.")
            st.caption(f"{snap.fps:.1f} frames/s · {snap.timings_ms.get('total', 0):.0f} ms a frame "
                       f"(detect, classify, draw) · detector: {LABELS.get(snap.detector, snap.detector)}")
        if snap.error:
            st.error(f"The last frame could not be processed: {snap.error}", icon=":material/error:")

        st.markdown("**Door monitor: the last minute**")
        totals = snap.totals
        share = "–" if totals["share_masked"] is None else f"{100 * totals['share_masked']:.0f} %"
        st.caption(f"People seen: {totals['people']} · masked: {share}")
        st.plotly_chart(live.door_chart(list(snap.series)), key="live_door_chart",
                        config={"displayModeBar": False})

    panel()


def live_view(state: live.LiveState, ice: tuple[list[dict], str]) -> None:
    video_col, info_col = st.columns([3, 2], gap="large")
    with video_col:
        ctx = webrtc_streamer(
            key=WEBRTC_KEY,
            mode=WebRtcMode.SENDRECV,
            rtc_configuration=live.rtc_configuration(ice[0]),  # explicit, even empty: no public STUN default
            media_stream_constraints=live.MEDIA_CONSTRAINTS,
            video_frame_callback=frame_callback(state),
            on_video_ended=state.end_stream,
            async_processing=True,
        )
        settings = controls()
        apply(state.pipeline, settings)
        if state.pipeline.message:  # the chosen detector is missing; another one is used
            st.warning(state.pipeline.message, icon=":material/warning:")
        if not ice[0]:
            st.caption("No ICE servers configured: the video works when the browser can reach this server "
                       f"directly (same machine or network). Set `{live.ICE_ENV}` or the `ice_servers` "
                       "secret (a TURN server) for viewers elsewhere.")
        else:
            st.caption(f"ICE servers: {len(ice[0])} from {ice[1]}.")
    with info_col:
        results_panel(state, ctx.state.playing, settings["show_probabilities"])


st.title("Live")
st.caption("Your camera, checked frame by frame for faces and masks. The video goes to this app's "
           "server only, is processed in memory and never stored.")

state = live_state()
ice = ice_settings()
if state is None or ice is None:
    st.stop()
st.fragment(live_view)(state, ice)
