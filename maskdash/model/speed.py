"""How fast one model file runs on each TFLite runtime (`python -m maskdash bench runtime`).

Chose the runtime: LiteRT (`ai-edge-litert`) replaced the deprecated `tf.lite.Interpreter`, and is
used only if it is at least as fast here. Same flatbuffer, same threads, same inputs; single-face
latency (the live path) and batched throughput (reports, `predict`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.imaging import INPUT_SIZE
from maskdash.model.runtime import BACKENDS, ModelFileError, TFLiteRunner, open_tflite, read_tflite


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def runtime_latency(path=None, threads: int = 1, single: int = 200, batch: int = 32, batches: int = 10,
                    rounds: int = 3) -> dict:
    """Per backend: single-face ms (p50, p95) and batched faces/s, interleaved over `rounds` so that
    a busy machine hurts both alike."""
    path = Path(path) if path else settings.shipped_model_dir() / "model.tflite"
    if path.is_dir() or path.suffix.lower() != ".tflite":
        raise ModelFileError(path, "give a .tflite file (`python -m maskdash export` makes one from a .keras file)")
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {settings.display_path(path)}")
    content = read_tflite(path)
    open_tflite(path, content, threads)  # a damaged or wrong-shaped model is named before any timing
    rng = np.random.default_rng(0)
    one = rng.integers(0, 255, (1, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)
    many = rng.integers(0, 255, (batch, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)
    samples: dict[str, dict[str, list[float]]] = {}
    runners = {}
    for backend in BACKENDS:
        try:
            runners[backend] = TFLiteRunner(content, batch=batch, threads=threads, backend=backend)
        except ImportError as exc:
            samples[backend] = {"error": str(exc)}  # type: ignore[dict-item]
            continue
        runners[backend](one), runners[backend](many)  # build both interpreters before timing
        samples[backend] = {"single": [], "batch": []}
    for _ in range(rounds):
        for backend, run in runners.items():
            samples[backend]["single"] += _time(lambda: run(one), single // rounds)
            samples[backend]["batch"] += _time(lambda: run(many), max(1, batches // rounds))
    doc = {"model": settings.display_path(path), "threads": threads, "batch": batch, "backends": {}}
    for backend, s in samples.items():
        if "error" in s:
            doc["backends"][backend] = s
            continue
        single_ms, batch_ms = np.asarray(s["single"]), np.asarray(s["batch"])
        doc["backends"][backend] = {
            "single_ms_p50": round(float(np.percentile(single_ms, 50)), 2),
            "single_ms_p95": round(float(np.percentile(single_ms, 95)), 2),
            "batch_faces_per_s": round(float(batch / (np.median(batch_ms) / 1000)), 1),
        }
    return doc


def format_runtime(doc: dict) -> str:
    lines = [f"{doc['model']}, {doc['threads']} thread(s), batch {doc['batch']}",
             f"  {'backend':<9} {'1 face p50':>11} {'p95':>8} {'batched faces/s':>16}"]
    for backend, r in doc["backends"].items():
        if "error" in r:
            lines.append(f"  {backend:<9} unavailable: {r['error']}")
        else:
            lines.append(f"  {backend:<9} {r['single_ms_p50']:>8.2f} ms {r['single_ms_p95']:>5.2f} ms "
                         f"{r['batch_faces_per_s']:>16.1f}")
    return "\n".join(lines)
