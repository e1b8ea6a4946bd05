"""What the Live page needs besides Streamlit: ICE/RTC settings, the hand-off of results from the
video thread to the page (with the door monitor of maskdash.inference.monitor) and the steady
verdict.

Threads: streamlit-webrtc runs the frame callback on a worker thread. The callback only calls
`LiveState.process(frame)`; the page reads `LiveState.snapshot()` from its own script thread.
Everything shared between the two sits behind one lock, and the page never blocks the video
(a snapshot copies a few small lists)."""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskdash.inference.monitor import Alert, DoorAlerts, MinuteSeries, SessionLog, log_csv
from maskdash.inference.draw import TEXT
from maskdash.inference.pipeline import Speed
from maskdash.inference.results import Face, Results
from maskdash.labels import INCORRECT, UNCERTAIN, WITH_MASK, WITHOUT_MASK

ICE_ENV = "MASKDASH_ICE_SERVERS"
RESULTS_ENV = "MASKDASH_RESULTS_FILE"  # the page writes its latest results there (tests, monitoring)

# 640×480 as "ideal": a camera that cannot do exactly that still starts, at its nearest size.
MEDIA_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False}
# What a camera asks for while other streams run on this server: every frame received is decoded
# and every frame sent encoded, whether or not the pipeline gets to it, so the browser is asked
# for fewer, smaller frames (about a quarter of that cost) and every viewer keeps a stream.
SHARED_CONSTRAINTS = {"video": {"width": {"ideal": 480, "max": 480}, "height": {"ideal": 360, "max": 360},
                                "frameRate": {"ideal": 15, "max": 15}}, "audio": False}

STALE_AFTER_S = 3.0  # no frame for this long while "playing": the stream has stalled

VERDICT_TEXT = {
    WITH_MASK: "😷 You are wearing a mask",
    WITHOUT_MASK: "😃 You are not wearing a mask",
    INCORRECT: "⚠️ Mask worn below the nose — not compliant",
    UNCERTAIN: "🤔 Looking…",
}
# The same verdicts for several faces in view (the worst one decides, see steady_verdict).
GROUP_TEXT = {
    WITH_MASK: "😷 Everyone in view is wearing a mask",
    WITHOUT_MASK: "😃 Not everyone in view is wearing a mask",
    INCORRECT: "⚠️ Someone in view wears the mask below the nose — not compliant",
}


# -- ICE / RTC settings ------------------------------------------------------------------------
class IceConfigError(ValueError):
    """The configured ICE servers are malformed; the message says what to fix."""


def parse_ice_servers(value: Any, source: str = "ice_servers") -> list[dict]:
    """A JSON string or a list of RTCIceServer-like mappings → a clean list of dicts
    (`urls`: str or list of str; optional `username`, `credential`)."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise IceConfigError(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(value, Mapping):  # one server given on its own
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise IceConfigError(f"{source} must be a list of servers such as "
                             '[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]')
    servers = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or "urls" not in item:
            raise IceConfigError(f"{source}[{i}] must be a mapping with a 'urls' entry")
        urls = item["urls"]
        urls_list = [urls] if isinstance(urls, str) else list(urls) if isinstance(urls, (list, tuple)) else None
        if not urls_list or not all(isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns")
                                    for u in urls_list):
            raise IceConfigError(f"{source}[{i}].urls must be stun:/turn: URLs, got {urls!r}")
        server: dict = {"urls": urls if isinstance(urls, str) else urls_list}
        for key in ("username", "credential"):
            if key in item:
                server[key] = str(item[key])
        servers.append(server)
    return servers


def ice_servers(secrets: Mapping | None = None, environ: Mapping[str, str] | None = None) -> tuple[list[dict], str]:
    """(servers, where they came from). The environment variable `MASKDASH_ICE_SERVERS` (a JSON
    list) wins over the `ice_servers` secret; with neither, an empty list: a browser on the same
    machine or network connects directly. Deployments behind NAT need a TURN server here; no public
    host is ever contacted unless configured."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ICE_ENV, "").strip()
    if raw:
        return parse_ice_servers(raw, ICE_ENV), f"environment variable {ICE_ENV}"
    if secrets is not None and "ice_servers" in secrets:
        return parse_ice_servers(_plain(secrets["ice_servers"]), "secrets ice_servers"), "secrets (ice_servers)"
    return [], "default (none: local connections only)"


def _plain(value: Any) -> Any:
    """Streamlit secrets come as read-only mapping types; turn them into plain lists/dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def rtc_configuration(servers: list[dict]) -> dict:
    """Given explicitly (even when empty) so that streamlit-webrtc does not fall back to its
    public STUN default on either end."""
    return {"iceServers": list(servers)}


# -- verdicts -------------------------------------------------------------------------------------
def steady_verdict(faces) -> str | None:
    """The overall verdict from the smoothed tracks (each Face's label): None with no face in
    view; 'without_mask' when any decided face is unmasked; else 'mask_incorrect' when any wears
    the mask below the nose; 'with_mask' when every decided face is masked properly; 'uncertain'
    while no face has been seen long enough."""
    if not faces:
        return None
    decided = [f.label for f in faces if f.label != UNCERTAIN]
    if not decided:
        return UNCERTAIN
    for worst in (WITHOUT_MASK, INCORRECT):
        if worst in decided:
            return worst
    return WITH_MASK


def face_verdict(label: str) -> str:
    """One face's verdict in words for the list beside the video."""
    return {INCORRECT: "mask worn below the nose — not compliant"}.get(label, TEXT.get(label, label))


def alert_text(alert: Alert) -> str:
    """The door alert's banner (Markdown): what is wrong, which face, its p(mask)."""
    what = "Mask worn below the nose at the door" if alert.verdict == INCORRECT else "Unmasked person at the door"
    return f"**{what}** (face {alert.track_id}, p(mask) {alert.p_mask:.2f})"


def verdict_text(verdict: str | None, n_faces: int) -> str:
    if verdict is None:
        return "🙈 No face in view"
    if n_faces <= 1 or verdict == UNCERTAIN:
        return VERDICT_TEXT.get(verdict, verdict)
    return GROUP_TEXT.get(verdict, verdict)


@dataclass(frozen=True)
class CameraPlan:
    """What a camera about to start is asked for, and why (shown under the video)."""

    constraints: dict
    reason: str

    @property
    def text(self) -> str:
        v = self.constraints["video"]
        rate = v.get("frameRate", {}).get("max")
        return (f"Camera asked for {v['width']['ideal']}×{v['height']['ideal']}"
                + (f" at up to {rate} frames/s" if rate else "") + f": {self.reason}.")


def camera_plan(other_streams: int) -> CameraPlan:
    """Full size and rate for the only stream; fewer, smaller frames when other streams run.
    Other work on the machine is not counted: measured when a page opens, it mostly saw this
    server's own start and the page being drawn, and with two busy loops competing a full-size
    camera still got 13 frames/s at 0.4 s (README, Live) — the latest-frame relay sheds the rest."""
    if other_streams:
        return CameraPlan(SHARED_CONSTRAINTS, f"shared with {other_streams} other stream"
                                              + ("s" if other_streams > 1 else "") + " on this server")
    return CameraPlan(MEDIA_CONSTRAINTS, "the only stream on this server")


_STATES: "weakref.WeakSet[LiveState]" = weakref.WeakSet()  # every browser session's LiveState
_STATES_LOCK = threading.Lock()


def active_streams(exclude: "LiveState | None" = None) -> int:
    """Streams delivering frames on this server now (all browser sessions), `exclude` aside."""
    with _STATES_LOCK:
        states = list(_STATES)
    return sum(1 for s in states if s is not exclude and s.streaming)


# -- the hand-off between the video thread and the page ---------------------------------------------
@dataclass(frozen=True)
class LiveSnapshot:
    """What the page shows, copied out under the lock."""

    frames: int  # frames processed in the current stream
    speed: Speed  # the latest frame's: the figure its read-out on the video shows
    faces: tuple[Face, ...]  # the latest frame's (records of that frame, never changed later)
    verdict: str | None  # steady_verdict of the latest frame
    frame_age_s: float | None  # seconds since the latest frame (None before the first)
    timings_ms: dict
    detector: str
    error: str | None  # the latest failure inside the frame path, if any
    streams: int  # streams started in this browser session
    series: tuple[dict, ...]
    totals: dict  # the last minute's people and share masked
    people: int  # people (face tracks) seen in the whole session
    alert: Alert | None  # the latest door alert, if any

    @property
    def fps(self) -> float:
        return self.speed.fps

    @property
    def stalled(self) -> bool:
        return self.frame_age_s is not None and self.frame_age_s > STALE_AFTER_S

    def to_json(self, playing: bool) -> dict:
        return {
            "time": time.time(), "playing": playing, "frames": self.frames, "fps": round(self.fps, 2),
            "verdict": self.verdict, "detector": self.detector, "error": self.error, "streams": self.streams,
            "ms_a_frame": round(self.speed.ms, 1), "frame_age_s": self.frame_age_s,
            "faces": [f.to_json() for f in self.faces],
            "totals": self.totals, "people": self.people,
            "alert": None if self.alert is None else {"id": self.alert.id, "time": self.alert.time,
                                                      "track_id": self.alert.track_id,
                                                      "verdict": self.alert.verdict},
        }


class LiveState:
    """One browser session's live results. `process()` runs on the video thread (the only thing
    the frame callback calls); everything else on the page's thread. A new stream starts a fresh
    pipeline session (new face tracks); the door monitor keeps the whole minute across restarts."""

    def __init__(self, pipeline, clock=time.time):
        self._pipeline = pipeline
        self._clock = clock
        self._lock = threading.Lock()
        self._session = None
        self._stream = 0
        self._frames = 0
        self._latest: Results | None = None
        self._latest_t: float | None = None
        self._error: str | None = None
        self._minute = MinuteSeries()
        self._alerts = DoorAlerts()
        self._log = SessionLog()
        self._alert: Alert | None = None
        with _STATES_LOCK:
            _STATES.add(self)

    @property
    def streaming(self) -> bool:
        """A stream is on and its latest frame is recent."""
        with self._lock:
            return (self._session is not None and self._latest_t is not None
                    and self._clock() - self._latest_t <= STALE_AFTER_S)

    @property
    def pipeline(self):
        return self._pipeline

    def process(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Frame in, annotated frame out; never raises (a failing frame is passed through unchanged
        and the reason kept for the page)."""
        with self._lock:
            if self._session is None:
                self._session = self._pipeline.session()
                self._stream += 1
                self._frames = 0
                self._latest, self._latest_t = None, None
            session, stream = self._session, self._stream
        try:
            annotated, result = session.process(frame_bgr)
        except Exception as exc:  # the stream must go on; the page shows the reason
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
            return frame_bgr
        now = self._clock()
        with self._lock:
            if session is self._session:  # not a frame that finished after the stream ended
                self._latest, self._latest_t = result, now
                self._frames += 1
                self._error = None
                self._minute.add(now, result.faces, stream)
                self._log.add(now, result.faces, stream)
                for alert in self._alerts.update(now, result.faces, stream):
                    self._alert = alert
        return annotated

    def configure_alerts(self, frames: int, cooldown_s: float) -> None:
        """Any thread; raises ValueError for bad values."""
        with self._lock:
            self._alerts.configure(frames, cooldown_s)

    def session_rows(self) -> list[dict]:
        """The session log: one row per person seen (monitor.LOG_COLUMNS)."""
        with self._lock:
            return self._log.rows()

    def session_csv(self) -> str:
        return log_csv(self.session_rows())

    def end_stream(self) -> None:
        """The video ended (Stop, or the browser went away): drop the face tracks."""
        with self._lock:
            self._session = None

    def snapshot(self) -> LiveSnapshot:
        now = self._clock()
        with self._lock:
            r = self._latest
            faces = tuple(r.faces) if r else ()
            return LiveSnapshot(
                frames=self._frames,
                speed=Speed(r.fps, r.ms_per_frame) if r else Speed(0.0, 0.0),
                faces=faces,
                verdict=steady_verdict(faces),
                frame_age_s=None if self._latest_t is None else max(0.0, now - self._latest_t),
                timings_ms=dict(r.timings_ms) if r else {},
                detector=(r.detector if r else "") or "",
                error=self._error,
                streams=self._stream,
                series=tuple(self._minute.series(now)),
                totals=self._minute.totals(now),
                people=self._log.people,
                alert=self._alert,
            )
