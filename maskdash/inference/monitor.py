"""The door monitor behind the Live page, pure and without Streamlit: the last minute second by
second (`MinuteSeries`), an alert when an unmasked face — or one with the mask below the nose —
stays in view (`DoorAlerts`), and a log of every person seen in the session (`SessionLog`,
downloadable as CSV). Each is fed the tracked faces of every frame (maskdash.inference.results.Face, one track id per person and stream).

None of them is thread-safe on its own: LiveState (maskdash.inference.live) feeds them from the
video thread and copies their figures out for the page under its one lock."""

from __future__ import annotations

import csv
import io
import math
import struct
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from maskdash.labels import NOT_COMPLIANT, UNCERTAIN, WITH_MASK, WITHOUT_MASK, compliance

MONITOR_WINDOW_S = 60  # the per-second chart spans the last minute
ALERT_FRAMES = 15  # frames in a row an unmasked verdict must hold before it alerts (~0.5 s at 30 frames/s)
ALERT_COOLDOWN_S = 30.0  # the same person alerts again at most this often
MAX_PEOPLE = 100_000  # the session log keeps this many people (oldest dropped): ~10 MB at most
LOG_COLUMNS = ["person", "stream", "track_id", "start", "end", "seconds", "verdict", "mean_p_mask", "frames"]


# -- the last minute ------------------------------------------------------------------------------
@dataclass
class _Second:
    faces: int = 0  # most faces in view at once during this second
    masked: int = 0  # decided face observations that were 'with_mask'
    decided: int = 0
    people: set = field(default_factory=set)  # (stream, track id) seen


class MinuteSeries:
    """Faces seen and the share masked per second over the last `window_s` seconds. Bounded:
    only the last `window_s` seconds are kept."""

    def __init__(self, window_s: int = MONITOR_WINDOW_S):
        self.window_s = window_s
        self._seconds: dict[int, _Second] = {}

    def add(self, t: float, faces, stream: int = 0) -> None:
        sec = int(t)
        bucket = self._seconds.get(sec)
        if bucket is None:
            bucket = self._seconds[sec] = _Second()
            for old in [s for s in self._seconds if s <= sec - self.window_s]:
                del self._seconds[old]
        bucket.faces = max(bucket.faces, len(faces))
        for f in faces:
            bucket.people.add((stream, f.track_id))
            if f.label != UNCERTAIN:
                bucket.decided += 1
                bucket.masked += f.label == WITH_MASK

    def series(self, now: float) -> list[dict]:
        """One row per second of the window, oldest first: seconds_ago (negative), faces,
        share_masked (None where no face had a verdict)."""
        end = int(now)
        rows = []
        for sec in range(end - self.window_s + 1, end + 1):
            b = self._seconds.get(sec)
            rows.append({
                "seconds_ago": sec - end,
                "faces": b.faces if b else 0,
                "share_masked": (b.masked / b.decided) if b and b.decided else None,
            })
        return rows

    def totals(self, now: float) -> dict:
        """People (face tracks) seen in the window and the share of decided observations masked."""
        lo = int(now) - self.window_s
        recent = [b for s, b in self._seconds.items() if s > lo]
        decided = sum(b.decided for b in recent)
        return {
            "people": len(set().union(*(b.people for b in recent))) if recent else 0,
            "share_masked": (sum(b.masked for b in recent) / decided) if decided else None,
        }


# -- alerts ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    id: int  # 1, 2, … in the order raised: the page plays each alert's sound once
    time: float
    stream: int
    track_id: int | None
    p_mask: float  # the face's smoothed p(mask) when the alert fired
    verdict: str = WITHOUT_MASK  # the face's verdict then: without_mask or mask_incorrect


@dataclass
class _Watch:
    run: int = 0  # frames in a row with a not-compliant verdict (no mask, or a mask below the nose)
    last_alert: float = -math.inf
    last_seen: float = 0.0


class DoorAlerts:
    """An alert when a face's verdict has been not compliant — 'without_mask' or 'mask_incorrect'
    (a mask below the nose), in any mix — for `frames` frames in a row (the
    tracker's verdict is already smoothed; this asks that it also holds), at most once per
    `cooldown_s` for the same person (track), so someone lingering in the door is not announced
    on every frame. A masked or undecided frame resets the count; frames where the face is out of
    view do not (the tracker keeps a face through short gaps)."""

    def __init__(self, frames: int = ALERT_FRAMES, cooldown_s: float = ALERT_COOLDOWN_S):
        self.configure(frames, cooldown_s)
        self._watch: dict[tuple[int, int | None], _Watch] = {}
        self._next_id = 1

    def configure(self, frames: int, cooldown_s: float) -> None:
        if frames < 1 or cooldown_s < 0:
            raise ValueError("an alert needs frames ≥ 1 and cooldown_s ≥ 0")
        self.frames, self.cooldown_s = int(frames), float(cooldown_s)

    def update(self, now: float, faces, stream: int = 0) -> list[Alert]:
        """One frame's faces → the alerts raised by it (usually none)."""
        alerts = []
        for f in faces:
            w = self._watch.setdefault((stream, f.track_id), _Watch())
            w.last_seen = now
            w.run = w.run + 1 if not_compliant(f.label) else 0
            if w.run >= self.frames and now - w.last_alert >= self.cooldown_s:
                w.last_alert = now
                p = f.p_smooth if not math.isnan(f.p_smooth) else f.p_mask
                alerts.append(Alert(self._next_id, now, stream, f.track_id, float(p), f.label))
                self._next_id += 1
        # Forget people long gone (their cooldown is over), so the dict stays small.
        stale = now - max(self.cooldown_s, 1.0) - MONITOR_WINDOW_S
        for key in [k for k, w in self._watch.items() if w.last_seen < stale]:
            del self._watch[key]
        return alerts


def not_compliant(label: str) -> bool:
    """A decided verdict that breaks the rule: no mask, or a mask worn below the nose."""
    return label != UNCERTAIN and compliance(label) == NOT_COMPLIANT


def beep_wav(freq_hz: float = 880.0, seconds: float = 0.25, repeats: int = 2, rate: int = 16_000) -> bytes:
    """A short beep (`repeats` tones with gaps) as a mono 16-bit WAV file, for the alert sound."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = np.sin(2 * np.pi * freq_hz * t) * np.minimum(1.0, np.minimum(t, t[::-1]) * 200)  # 5 ms ramps: no clicks
    gap = np.zeros(n // 2)
    wave = np.concatenate([np.concatenate([tone, gap]) for _ in range(repeats)])
    pcm = (wave * 0.5 * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


# -- the session log ------------------------------------------------------------------------------
@dataclass
class _Person:
    number: int
    stream: int
    track_id: int | None
    start: float
    end: float
    frames: int = 0
    p_sum: float = 0.0
    p_n: int = 0
    verdict: str = UNCERTAIN  # the latest decided verdict


class SessionLog:
    """Every person (face track) seen in the session, for the whole session: first and last
    seen, the verdict (the latest decided one; 'uncertain' if never decided), the mean of the
    face's per-frame p(mask), and the frames seen."""

    def __init__(self, max_people: int = MAX_PEOPLE):
        self.max_people = max_people
        self._people: dict[tuple[int, int | None], _Person] = {}  # insertion order = first seen
        self._count = 0

    def add(self, t: float, faces, stream: int = 0) -> None:
        for f in faces:
            key = (stream, f.track_id)
            p = self._people.get(key)
            if p is None:
                self._count += 1
                p = self._people[key] = _Person(self._count, stream, f.track_id, t, t)
                if len(self._people) > self.max_people:
                    del self._people[next(iter(self._people))]
            p.end = t
            p.frames += 1
            if not math.isnan(f.p_mask):
                p.p_sum += f.p_mask
                p.p_n += 1
            if f.label != UNCERTAIN:
                p.verdict = f.label

    @property
    def people(self) -> int:
        """People seen in the session (also those dropped from a full log)."""
        return self._count

    def rows(self) -> list[dict]:
        """One row per person, first seen first, with LOG_COLUMNS (times as local ISO 8601)."""
        return [{
            "person": p.number, "stream": p.stream, "track_id": p.track_id,
            "start": _iso(p.start), "end": _iso(p.end), "seconds": round(p.end - p.start, 1),
            "verdict": p.verdict, "mean_p_mask": round(p.p_sum / p.p_n, 4) if p.p_n else None,
            "frames": p.frames,
        } for p in self._people.values()]

    def csv(self) -> str:
        return log_csv(self.rows())


def log_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
