"""`python -m maskdash bench predict`: the whole `predict` command, local engine against Ray, on
the same photos. Each configuration runs as its own `python -m maskdash predict` process, so start-up
(Python, the models, Ray and its workers) is in the time as a user meets it; rounds interleave the
configurations, so that a busy machine slows them alike; medians are reported."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from maskdash import settings


def configurations(workers: list[int]) -> list[tuple[str, list[str]]]:
    return [("local", [])] + [(f"ray-{n}", ["--engine", "ray", "--workers", str(n)]) for n in workers]


def run_once(inputs: list[str], extra: list[str], out: Path) -> dict:
    """One `predict` process: its wall time and its summary."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "maskdash", "predict", *inputs, "--csv", str(out), *extra],
                          cwd=settings.PROJECT_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:  # predict names what went wrong in its error lines; the last line may be a summary
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        why = [ln for ln in lines if ln.startswith("error")] or lines[-3:]
        raise RuntimeError(f"predict {' '.join(extra) or '(local)'} failed (exit {proc.returncode}): " + " | ".join(why))
    summary = json.loads(out.with_name(out.stem + ".summary.json").read_text())
    return {"wall_s": wall, "images_per_second": summary["images_per_second"], "images": summary["images"]}


def bench_predict(inputs: list[str], workers: list[int], rounds: int, progress: bool = True) -> dict:
    if rounds < 1 or not workers or min(workers) < 1:
        raise ValueError("rounds and worker counts must be at least 1")
    # each predict runs in the project folder (so that `-m maskdash` is found): paths as the user gave them
    inputs = [str(Path(i).expanduser().absolute()) for i in inputs]
    configs = configurations(workers)
    times: dict[str, list[dict]] = {name: [] for name, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for name, extra in configs:
                got = run_once(inputs, extra, Path(tmp) / f"{name}.csv")
                times[name].append(got)
                if progress:
                    print(f"round {r + 1}: {name} {got['wall_s']:.1f} s", file=sys.stderr)
    doc = {"images": times["local"][0]["images"], "rounds": rounds, "configurations": {}}
    base = statistics.median(t["wall_s"] for t in times["local"])
    for name, runs in times.items():
        wall = statistics.median(t["wall_s"] for t in runs)
        doc["configurations"][name] = {
            "median_wall_s": round(wall, 1), "wall_s": [round(t["wall_s"], 1) for t in runs],
            "median_images_per_second": round(statistics.median(t["images_per_second"] for t in runs), 2),
            "images_per_second_end_to_end": round(doc["images"] / wall, 2),
            "wall_vs_local": round(wall / base, 2)}
    return doc


def format_bench(doc: dict) -> str:
    lines = [f"{doc['images']} images, median of {doc['rounds']} interleaved rounds",
             f"{'':10} {'wall s':>8} {'img/s':>7} {'img/s in predict':>17} {'vs local':>9}"]
    for name, c in doc["configurations"].items():
        lines.append(f"{name:10} {c['median_wall_s']:8.1f} {c['images_per_second_end_to_end']:7.2f} "
                     f"{c['median_images_per_second']:17.2f} {c['wall_vs_local']:9.2f}")
    return "\n".join(lines)


def run_bench_predict(a) -> int:
    try:
        workers = [int(n) for n in a.workers.split(",")]
    except ValueError:
        raise ValueError(f"--workers takes whole numbers separated by commas, e.g. 1,2; got {a.workers!r}") from None
    doc = bench_predict(a.inputs, workers, a.rounds, progress=not a.json)
    print(json.dumps(doc) if a.json else format_bench(doc))
    return 0
