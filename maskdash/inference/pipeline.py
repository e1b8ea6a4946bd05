"""The live per-frame pipeline: camera frame (BGR) → faces → crops → one batched classifier call
→ tracked, smoothed verdicts → annotated frame (BGR) and a `Results` (maskdash.inference.results,
the type Photos and `predict` use too). No Streamlit here.

Sharing: one `FramePipeline` holds what is expensive and stateless per frame (detector,
classifier, settings) and may be shared by every thread and browser session; everything that
belongs to one video stream (its face tracks, frame counter, speed meter) lives in a `LiveSession`
from `pipeline.session()`. So two users never see each other's faces' histories, and the shared
parts are safe because the detector and the classifier serialise their own calls with locks.

    pipeline = FramePipeline.load()       # shipped classifier, warmed; share it (e.g. st.cache_resource)
    session = pipeline.session()          # one per stream (e.g. in the video processor's __init__)
    annotated_bgr, result = session.process(frame_bgr)
    pipeline.update_config(detector="yunet", smoothing_window=15)   # any thread, any time
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields, replace

import cv2
import numpy as np

from maskdash.inference.detection import DETECTORS, DetectorUnavailable, make_detector_or_fallback
from maskdash.inference.draw import readout
from maskdash.inference.faces import class_probabilities, crop_all
from maskdash.inference.results import Results
from maskdash.inference.tracking import Tracker, TrackerConfig, face_signature

STAGES = ("detect", "crop", "classify", "draw", "total")
SPEED_WINDOW_S = 2.0  # the speed read-out covers the frames delivered in the last 2 s
# One interpreter thread for the live classifier: on 2 cores shared with video decoding and
# encoding, a second thread mostly waits, and measured 1-face frames were faster with one
# (p50 15 ms vs 17–20 ms with two, machine under load).
LIVE_CLASSIFIER_THREADS = 1


@dataclass(frozen=True)
class PipelineConfig:
    detector: str = "blazeface"  # the live default: ~2 ms a frame, best at webcam distance
    det_threshold: float | None = None  # None: the detector's own default
    mask_threshold: float = 0.5
    smoothing_window: int = 10  # classifications averaged per face (= frames when all faces are classified)
    show_probabilities: bool = True
    # Flip each frame left-right before anything else, so the video is a mirror (what a selfie
    # camera shows) and the boxes, labels and read-out are drawn on the flipped picture and stay
    # readable. Off by default: a camera watching a door should show the scene as it is.
    mirror: bool = False
    min_frames: int = 3  # a new face is 'uncertain' until classified this often
    margin: float = 0.15  # hysteresis around mask_threshold
    max_missed: int = 5  # frames a face may be undetected before its track ends
    # At most this many faces are classified per frame (None: all). The others keep their latest
    # probability; new faces and then the stalest go first, so every face is refreshed within
    # ceil(faces / budget) frames. One face costs ~10 ms of CPU (MobileNetV2 at 224 px), so
    # classifying all of 5 faces every frame cannot reach 30 frames/s on 2 cores; 2 a frame can,
    # and still refreshes each of 5 faces 12 times a second at 30 frames/s.
    classify_budget: int | None = 2

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown face detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")
        if self.det_threshold is not None and not 0.0 <= self.det_threshold <= 1.0:
            raise ValueError(f"det_threshold must be between 0 and 1, got {self.det_threshold}")
        if self.classify_budget is not None and self.classify_budget < 1:
            raise ValueError("classify_budget must be ≥ 1 or None")
        self.tracker_config()  # validates the smoothing settings

    def tracker_config(self) -> TrackerConfig:
        return TrackerConfig(window=self.smoothing_window, min_frames=self.min_frames,
                             threshold=self.mask_threshold, margin=self.margin, max_missed=self.max_missed)


class LiveSession:
    """One video stream's state. Calls on one session are serialised by its lock, so a video
    callback that overlaps itself cannot corrupt the tracks; different sessions run in parallel."""

    def __init__(self, pipeline: "FramePipeline"):
        self.pipeline = pipeline
        self.tracker = Tracker(pipeline.config.tracker_config())
        self.lock = threading.Lock()
        self.speed = SpeedMeter()
        self._tracker_source: PipelineConfig | None = None

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Results]:
        return self.pipeline.process(frame_bgr, self)

    def reset(self) -> None:
        with self.lock:
            self.tracker.reset()

    def _sync(self, cfg: PipelineConfig, width: int) -> None:
        if cfg is not self._tracker_source:
            self.tracker.configure(**asdict(cfg.tracker_config()))
            if self._tracker_source is not None and cfg.mirror != self._tracker_source.mirror:
                self.tracker.flip(width)  # the same people, now seen the other way round
            self._tracker_source = cfg


@dataclass(frozen=True)
class Speed:
    fps: float  # frames delivered per second over the meter's window
    ms: float  # mean processing time of those frames, frame in to annotated frame out

    def text(self) -> str:
        """The one wording of the speed figure, on the video and beside it."""
        return f"{self.fps:.1f} frames/s, {self.ms:.0f} ms a frame"  # ASCII: OpenCV's font has no more


class SpeedMeter:
    """The one definition of a stream's speed: frames delivered per second over the last
    `window_s` seconds, and the mean processing ms of those frames. Read once per frame, as each
    frame is delivered; that one reading is drawn on the frame and kept in its Results (fps,
    ms_per_frame), which is what the page shows, so both say the same. Thread-safe."""

    def __init__(self, window_s: float = SPEED_WINDOW_S, clock=time.perf_counter):
        self.window_s = window_s
        self.clock = clock
        self._frames: deque[tuple[float, float]] = deque()  # (delivered at, processing ms)
        self._lock = threading.Lock()

    def add(self, ms: float, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        with self._lock:
            self._frames.append((at, float(ms)))
            self._trim(at)

    def read(self, now: float | None = None) -> Speed:
        now = self.clock() if now is None else now
        with self._lock:
            self._trim(now)
            frames = list(self._frames)
        if not frames:
            return Speed(0.0, 0.0)
        ms = sum(m for _, m in frames) / len(frames)
        span = now - frames[0][0]  # n frames delivered since the first of them: n - 1 intervals
        fps = (len(frames) - 1) / span if len(frames) > 1 and span > 0 else 0.0
        return Speed(fps, ms)

    def _trim(self, now: float) -> None:
        while self._frames and self._frames[0][0] <= now - self.window_s:
            self._frames.popleft()


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Validate a camera frame; grey and BGRA frames become BGR. Raises ValueError with the reason."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.size == 0:
        raise ValueError(f"frame is empty (shape {frame.shape})")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be H×W×3 BGR, got shape {frame.shape}")
    return frame


class FramePipeline:
    """Shared by all sessions: detector + classifier + settings. See the module docstring."""

    def __init__(self, classifier, config: PipelineConfig | None = None, detector=None,
                 warm_up: bool = True, warm_batches: int | None = None):
        self.classifier = classifier
        self._config = config or PipelineConfig()
        self._lock = threading.Lock()  # guards _config/_detector/message swaps
        self._load_lock = threading.Lock()  # one detector load at a time
        self.message: str | None = None  # e.g. "YuNet is unavailable, using …"
        if detector is None:
            detector, self.message = make_detector_or_fallback(self._config.detector)
        self._detector = detector
        if warm_up:  # batch sizes up to the budget (or 5) are then ready before the first frame
            self.warm_up(warm_batches or self._config.classify_budget or 5)

    @classmethod
    def load(cls, config: PipelineConfig | None = None, model: str | None = None) -> "FramePipeline":
        """The live pipeline with the shipped classifier (or `model`), set up for live use."""
        from maskdash.model.runtime import load_classifier

        return cls(load_classifier(model, threads=LIVE_CLASSIFIER_THREADS), config)

    # -- settings ---------------------------------------------------------------------------
    @property
    def config(self) -> PipelineConfig:
        return self._config

    @property
    def detector(self):
        return self._detector

    def update_config(self, **changes) -> PipelineConfig:
        """Change settings while frames are flowing (any thread). A new detector name loads that
        detector first (outside the frame path, so sessions keep running on the old one until it
        is ready); if it is unavailable, the fallback is used and `self.message` says why.
        Raises ValueError for an unknown setting or value."""
        unknown = set(changes) - {f.name for f in fields(PipelineConfig)}
        if unknown:
            raise ValueError(f"unknown pipeline setting(s): {', '.join(sorted(unknown))}")
        with self._load_lock:
            new = replace(self._config, **changes)  # validates
            detector, message = self._detector, self.message
            if new.detector != self._config.detector:
                try:
                    detector, message = make_detector_or_fallback(new.detector)
                except DetectorUnavailable as exc:  # nothing usable: keep the running detector
                    new = replace(new, detector=self._config.detector)
                    message = str(exc)
                else:
                    detector.detect(np.zeros((480, 640, 3), np.uint8))  # warm before going live
            with self._lock:
                self._config, self._detector, self.message = new, detector, message
        return new

    def session(self) -> LiveSession:
        return LiveSession(self)

    def warm_up(self, batches: int = 5) -> None:
        """Run each batch size once (TFLite builds one interpreter per batch size) and the detector."""
        self._detector.detect(np.zeros((480, 640, 3), np.uint8))
        for n in range(1, max(1, batches) + 1):
            self.classifier.predict(np.zeros((n, 224, 224, 3), np.uint8))

    # -- the frame path -----------------------------------------------------------------------
    def process(self, frame_bgr: np.ndarray, session: LiveSession) -> tuple[np.ndarray, Results]:
        """One frame of one stream → (annotated BGR copy, Results with timings, fps, frame index)."""
        start = time.perf_counter()
        frame_bgr = as_bgr(frame_bgr)
        with self._lock:
            cfg, detector = self._config, self._detector
        if cfg.mirror:
            frame_bgr = cv2.flip(frame_bgr, 1)
        # A threshold set for one detector means little for a fallback: that one uses its default.
        det_thr = cfg.det_threshold if detector.name == cfg.detector else None
        with session.lock:
            session._sync(cfg, frame_bgr.shape[1])
            rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            detections = detector.detect(rgb, det_thr)
            t_det = time.perf_counter()

            tracker = session.tracker
            tracks = tracker.assign(detections, [face_signature(rgb, d.box) for d in detections])
            chosen = _choose(tracks, cfg.classify_budget)
            crops = crop_all(rgb, [tracks[i].face.box for i in chosen])
            t_crop = time.perf_counter()

            p_mask, p_inc = class_probabilities(self.classifier, crops) if chosen else ((), ())
            for i, p, q in zip(chosen, p_mask, p_inc):
                tracker.observe(tracks[i], float(p), float(q))
            result = Results(tracker.faces(tracks), (frame_bgr.shape[1], frame_bgr.shape[0]),
                             detector=detector.name, frame_index=tracker.frame_index,
                             classified=len(chosen))
            t_cls = time.perf_counter()

            # Each face is drawn with its smoothed verdict and probability, so colour and number agree.
            out = result.annotated(frame_bgr, show_prob=cfg.show_probabilities, bgr=True)
            # The frame is done but for the read-out (a few µs): it counts as delivered now.
            done = time.perf_counter()
            session.speed.add((done - start) * 1000, done)
            speed = session.speed.read(done)
            result.fps, result.ms_per_frame = speed.fps, speed.ms  # what the read-out shows
            n = len(result.faces)
            readout(out, f"{speed.text()}, {n} face{'s' if n != 1 else ''}")
            end = time.perf_counter()
            result.timings_ms = {
                "detect": (t_det - start) * 1000,  # includes the BGR→RGB conversion
                "crop": (t_crop - t_det) * 1000,  # includes tracking
                "classify": (t_cls - t_crop) * 1000,
                "draw": (end - t_cls) * 1000,
                "total": (end - start) * 1000,
            }
        return out, result


def _choose(tracks, budget: int | None) -> list[int]:
    """Indices of the faces to classify this frame: all, or the `budget` stalest (never-classified
    first, then the longest ago, larger faces breaking ties)."""
    if budget is None or len(tracks) <= budget:
        return list(range(len(tracks)))

    def key(i: int):
        t = tracks[i]
        area = (t.face.box[2] - t.face.box[0]) * (t.face.box[3] - t.face.box[1])
        return (t.last_classified, -area)

    return sorted(sorted(range(len(tracks)), key=key)[:budget])


@dataclass
class StageStats:
    """Per-stage latency summary over many frames (for benchmarks and the live page)."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})

    def add(self, timings_ms: dict[str, float]) -> None:
        for s in STAGES:
            self.samples[s].append(float(timings_ms.get(s, 0.0)))

    def summary(self) -> dict:
        out = {}
        for s, vals in self.samples.items():
            if vals:
                a = np.asarray(vals)
                out[s] = {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
                          "mean": round(float(a.mean()), 2)}
        return out
