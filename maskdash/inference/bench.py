"""`python -m maskdash bench live`: how fast the live pipeline processes frames, stage by stage.

Frames come from a recorded video (`--video`) or from a generated 640×480 stream of real faces:
Face Mask 12K Test faces of both classes pasted onto a moving, changing background, with 1 and
with 5 faces in view. The generated stream knows where each face is and what it is, so the
benchmark also reports how many faces were found and how many were labelled right: a fast
pipeline that misses faces is not a result.

"fps" is processing capacity: frames divided by the time spent processing them, back to back
(a camera delivering 30 frames/s needs ≥ 30)."""

from __future__ import annotations

import argparse
import json as _json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskdash import settings
from maskdash.data.datasets import CLEAR_FACES, list_split  # CLEAR_FACES: re-exported for the benches and tests
from maskdash.imaging import ImageError, load_rgb
from maskdash.labels import CLASSES, UNCERTAIN, WITH_MASK, WITHOUT_MASK
from maskdash.inference.pipeline import FramePipeline, PipelineConfig, StageStats

FRAME_W, FRAME_H = 640, 480
WARMUP_FRAMES = 5  # not counted: the first frames of a stream start tracks, touch caches
FACE_SIDE = {1: 200, 2: 170, 3: 150, 4: 140, 5: 130}  # pasted face height by faces in view
SWAP_EVERY = 60  # frames before the pasted faces change (a scene cut: the tracks are reset)


@dataclass
class PlacedFace:
    box: tuple[int, int, int, int]
    label: str  # WITH_MASK | WITHOUT_MASK


def load_clear_faces(root: Path | str | None = None) -> list[tuple[np.ndarray, str]]:
    """The CLEAR_FACES (RGB, label), masked and unmasked interleaved. Raises FileNotFoundError."""
    root = Path(root) if root else settings.facemask12k_dir()
    folders = {WITH_MASK: "WithMask", WITHOUT_MASK: "WithoutMask"}
    loaded = {label: [load_rgb(root / "Test" / folders[label] / name) for name in names]
              for label, names in CLEAR_FACES.items()}
    pairs = zip(loaded[WITH_MASK], loaded[WITHOUT_MASK])
    return [item for m, u in pairs for item in ((m, WITH_MASK), (u, WITHOUT_MASK))]


def load_test_faces(root: Path | str | None = None, per_class: int = 12, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """`per_class` random Face Mask 12K Test faces of each class (RGB, label), interleaved."""
    root = Path(root) if root else settings.facemask12k_dir()
    samples = list_split(root, "Test")
    rng = random.Random(seed)
    out: list[list[tuple[np.ndarray, str]]] = [[], []]
    for k in (0, 1):
        pool = [s for s in samples if s.label == k]
        rng.shuffle(pool)
        for s in pool:
            if len(out[k]) >= per_class:
                break
            try:
                rgb = load_rgb(s.path)
            except ImageError:
                continue
            if min(rgb.shape[:2]) >= 48:  # tiny thumbnails are no test of a webcam pipeline
                out[k].append((rgb, CLASSES[k]))
    if not out[0] or not out[1]:
        raise FileNotFoundError(f"no Face Mask 12K Test faces found under {root}")
    return [f for pair in zip(*out) for f in pair]


def bench_faces(root: Path | str | None = None) -> list[tuple[np.ndarray, str]]:
    """The clear faces; a differently-named copy of the data set gets random Test faces instead."""
    try:
        return load_clear_faces(root)
    except (FileNotFoundError, ImageError):
        return load_test_faces(root)


def _background(seed: int = 0) -> np.ndarray:
    """A 2×-wide textured background (gradients, soft blobs, a little noise) to scroll through."""
    rng = np.random.default_rng(seed)
    w, h = FRAME_W * 2, FRAME_H
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.stack([90 + 60 * np.sin(xx / 97 + c) * np.cos(yy / 71 - c) for c in (0.0, 1.3, 2.6)], -1)
    for _ in range(25):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 90)
        color = rng.uniform(30, 220, 3)
        mask = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
        bg = bg * (1 - mask) + color * mask
    bg += rng.normal(0, 4, bg.shape)
    return np.clip(bg, 0, 255).astype(np.uint8)


class SyntheticStream:
    """Frames (BGR) with `n_faces` real faces moving on a scrolling background, plus their truth."""

    def __init__(self, faces: list[tuple[np.ndarray, str]], n_faces: int, seed: int = 0):
        if n_faces < 1 or n_faces > 5:
            raise ValueError("the generated stream holds 1 to 5 faces")
        self.faces = faces
        self.n = n_faces
        self.side = FACE_SIDE[n_faces]
        self.bg = _background(seed)
        cols = 1 if n_faces == 1 else 3
        rows = 1 if n_faces == 1 else 2
        cw, ch = FRAME_W / cols, FRAME_H / rows
        self.cells = [((i % cols + 0.5) * cw, (i // cols + 0.5) * ch) for i in range(n_faces)]
        self.amp = (min(cw, ch) - self.side) / 2 * 0.8 if n_faces > 1 else 120.0
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def _face(self, idx: int) -> tuple[np.ndarray, str]:
        rgb, label = self.faces[idx % len(self.faces)]
        key = (idx % len(self.faces), self.side)
        if key not in self._cache:
            h, w = rgb.shape[:2]
            scale = self.side / h
            size = (max(1, round(w * scale)), self.side)
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            self._cache[key] = cv2.cvtColor(cv2.resize(rgb, size, interpolation=interp), cv2.COLOR_RGB2BGR)
        return self._cache[key], label

    @staticmethod
    def is_cut(i: int) -> bool:
        """True where other people take the faces' places. The stream swaps faces in place, which
        a tracker would (rightly) read as one person changing; a real camera shows new people
        arriving as new faces, so the benchmark starts fresh tracks there."""
        return i > 0 and i % SWAP_EVERY == 0

    def frame(self, i: int) -> tuple[np.ndarray, list[PlacedFace]]:
        off = (i * 3) % FRAME_W
        frame = self.bg[:, off:off + FRAME_W].copy()
        gain = 0.85 + 0.15 * np.sin(i / 40)  # slow light change
        frame = cv2.convertScaleAbs(frame, alpha=gain)
        placed = []
        batch = i // SWAP_EVERY
        for k, (cx, cy) in enumerate(self.cells):
            face, label = self._face(batch * self.n + k)
            fh, fw = face.shape[:2]
            phase = k * 1.7
            x = int(cx + self.amp * np.sin(i / 23 + phase) - fw / 2)
            y = int(cy + self.amp * 0.6 * np.cos(i / 31 + phase) - fh / 2)
            x = min(max(x, 0), FRAME_W - fw)
            y = min(max(y, 0), FRAME_H - fh)
            frame[y:y + fh, x:x + fw] = face
            placed.append(PlacedFace((x, y, x + fw, y + fh), label))
        return frame, placed


def _hit(det_box, truth: PlacedFace) -> bool:
    """A detection belongs to a pasted face when its centre lies inside the pasted image (the
    detector's box is the face, tighter than the pasted photo, so IoU would understate hits)."""
    cx, cy = (det_box[0] + det_box[2]) / 2, (det_box[1] + det_box[3]) / 2
    x1, y1, x2, y2 = truth.box
    return x1 <= cx <= x2 and y1 <= cy <= y2


def _run(pipeline: FramePipeline, frames, n_frames: int) -> dict:
    session = pipeline.session()
    stats = StageStats()
    placed_total = found = labelled = correct = 0
    faces_per_frame = []
    cpu_ms = []
    counted = 0
    for i, item in enumerate(frames):
        if counted >= n_frames:
            break
        frame, truth, cut = item
        if cut:
            session.reset()
        cpu0 = time.process_time()
        _, result = session.process(frame)
        cpu = (time.process_time() - cpu0) * 1000
        if i < WARMUP_FRAMES:
            continue
        counted += 1
        stats.add(result.timings_ms)
        cpu_ms.append(cpu)
        faces_per_frame.append(len(result.faces))
        for t in truth or ():
            placed_total += 1
            match = next((f for f in result.faces if _hit(f.box, t)), None)
            if match is None:
                continue
            found += 1
            if match.label != UNCERTAIN:
                labelled += 1
                correct += match.label == t.label
    total_s = sum(stats.samples["total"]) / 1000
    out = {
        "fps": round(counted / total_s, 1) if total_s > 0 else 0.0,
        "frames": counted,
        "faces_per_frame": round(float(np.mean(faces_per_frame)), 2) if faces_per_frame else 0.0,
        "ms": stats.summary(),
        # CPU time of the whole process per frame (all threads): unlike wall time, hardly
        # inflated when other programs compete for the cores.
        "cpu_ms": {"p50": round(float(np.percentile(cpu_ms, 50)), 2),
                   "p95": round(float(np.percentile(cpu_ms, 95)), 2)} if cpu_ms else {},
    }
    if placed_total:
        out["detected"] = round(found / placed_total, 3)
        out["label_accuracy"] = round(correct / labelled, 3) if labelled else None
    return out


def _video_frames(path: str):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path!r} (unreadable file or unsupported codec)")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame, None, False
    finally:
        cap.release()


def bench_live(video: str | None = None, detector: str = "blazeface", frames: int = 300,
               faces: tuple[int, ...] = (1, 5), json: bool = False, model: str | None = None,
               classify_budget: int | None = PipelineConfig.classify_budget, pipeline: FramePipeline | None = None,
               data: str | None = None, browser: bool = False, browser_seconds: float = 20.0) -> dict:
    """Benchmark the live pipeline and print the figures (a table, or one JSON object whose
    first key "fps" is the 1-face figure, or the video's). Returns the same dict.
    `classify_budget`: faces classified per frame (0 or None: all); ignored with `pipeline`.
    `browser`: also the Live page's camera-to-screen latency in headless Chromium, alone and with
    two busy loops (maskdash.inference.bench_browser), under the key "browser"."""
    if video and not Path(video).is_file():  # before the slow model load
        raise FileNotFoundError(f"video not found: {video}")
    if pipeline is None:
        pipeline = FramePipeline.load(PipelineConfig(detector=detector, classify_budget=classify_budget or None), model)
    runs: dict[str, dict] = {}
    if video:
        runs["video"] = _run(pipeline, _video_frames(video), frames)
        if runs["video"]["frames"] == 0:
            raise ValueError(f"no frames could be read from {video!r}")
    else:
        pool = bench_faces(data)
        for n in faces:
            stream = SyntheticStream(pool, n)
            gen = ((*stream.frame(i), stream.is_cut(i)) for i in range(frames + WARMUP_FRAMES))
            runs[f"{n} face" + ("s" if n != 1 else "")] = _run(pipeline, gen, frames)
    first = runs.get("1 face") or next(iter(runs.values()))
    clf = pipeline.classifier
    doc = {
        "fps": first["fps"],
        "detector": pipeline.detector.name,
        "classifier": f"{getattr(clf, 'path', '?')} ({getattr(clf, 'kind', '?')})",
        "classify_budget": pipeline.config.classify_budget,
        "source": video or "generated 640x480 stream of Face Mask 12K Test faces",
        "runs": runs,
    }
    if pipeline.message:
        doc["message"] = pipeline.message
    if browser:
        from maskdash.inference.bench_browser import bench_browser

        doc["browser"] = bench_browser(browser_seconds, data)
    print(_json.dumps(doc) if json else format_report(doc))
    return doc


def format_report(doc: dict) -> str:
    budget = doc.get("classify_budget")
    lines = [f"detector {doc['detector']}, classifier {doc['classifier']}, "
             + (f"at most {budget} faces classified a frame" if budget else "every face classified every frame")]
    if doc.get("message"):
        lines.append(doc["message"])
    for name, r in doc["runs"].items():
        ms = r["ms"]
        extra = ""
        if "detected" in r:
            acc = r["label_accuracy"]
            extra = f"  detected {r['detected']:.0%}, labelled right {acc:.0%}" if acc is not None else \
                f"  detected {r['detected']:.0%}"
        lines.append(f"{name}: {r['fps']:.1f} frames/s over {r['frames']} frames{extra}")
        if r.get("cpu_ms"):
            lines.append(f"  CPU time a frame (all threads): p50 {r['cpu_ms']['p50']:.2f} ms, p95 {r['cpu_ms']['p95']:.2f} ms")
        lines.append("  stage      p50 ms   p95 ms")
        for stage in ("detect", "crop", "classify", "draw", "total"):
            if stage in ms:
                lines.append(f"  {stage:<9} {ms[stage]['p50']:7.2f}  {ms[stage]['p95']:7.2f}")
    if doc.get("browser"):
        from maskdash.inference.bench_browser import format_browser

        lines.append(format_browser(doc["browser"]))
    return "\n".join(lines)


# -- command line (the parser is in maskdash/cli.py) ---------------------------------------------

def run_bench_live(args: argparse.Namespace) -> int:
    try:
        try:
            faces = tuple(int(x) for x in str(args.faces).split(",") if x.strip())
        except ValueError:
            faces = ()
        if not faces or any(n < 1 or n > 5 for n in faces):
            raise ValueError("--faces takes numbers from 1 to 5, e.g. 1,5")
        if args.budget is not None and args.budget < 0:
            raise ValueError("--budget must be 0 (all faces) or more")
        if args.frames < 1:
            raise ValueError("--frames must be at least 1")
        if args.browser:
            from maskdash.inference.browser import browser_missing

            if why := browser_missing():
                raise ValueError(f"--browser needs a browser: {why}")
        bench_live(args.video, args.detector, args.frames, faces, args.json, model=args.model,
                   classify_budget=args.budget, data=args.data, browser=args.browser,
                   browser_seconds=args.browser_seconds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
