"""`python -m maskdash analyze`: run the registered failure studies for each model (seed and
robust side by side) and write their tables, example recipes (examples.csv) and summary.json to
`models/analysis/<name>/`.

Everything is subsampled with a fixed seed so a run takes minutes on a laptop CPU; the sizes are
recorded in summary.json."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from maskdash.analysis import examples as ex
from maskdash.analysis.results import RESULT_FILES, analysis_root, shown_path, summary_lines
from maskdash.analysis.sources import open_classifier, resolve_data, resolve_model, sample_test_faces
from maskdash.analysis.studies import REGISTRY, STUDIES, Context
from maskdash.labels import CLASSES

DEFAULT_LIMIT = 300  # faces per study (Test: half per class; dev scenes: this many faces)
DEFAULT_SWEEP_LIMIT = 160  # faces per condition in the distance and lighting sweeps
DEFAULT_SEED = 0
DEFAULT_DETECTOR = "blazeface"  # the original app's detector; its 6 landmarks include the ears


def run_analysis(
    recipe_or_model_dir: str | Path,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    studies: tuple[str, ...] | list[str] = STUDIES,
    progress: bool = True,
    limit: int = DEFAULT_LIMIT,
    sweep_limit: int = DEFAULT_SWEEP_LIMIT,
    seed: int = DEFAULT_SEED,
    detector: str = DEFAULT_DETECTOR,
    engine: str = "tflite",
    threshold: float = 0.5,
    add: bool = False,
) -> dict:
    """Run `studies` for one model and write the results to `out_dir` (default
    `models/analysis/<name>`). Returns summary.json's content.

    A run replaces the folder's results. With `add`, it replaces only these studies' and keeps
    the others', when the folder's results are of the same model file, seed and threshold
    (otherwise it says so and replaces them all)."""
    if not studies:
        raise ValueError(f"no studies given; choose from {', '.join(STUDIES)}")
    unknown = [s for s in studies if s not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown studies: {', '.join(unknown)}; choose from {', '.join(STUDIES)}")
    if limit < 2 or sweep_limit < 2:
        raise ValueError("limit and sweep_limit must be at least 2 (one face per class)")
    from maskdash.inference.detection import DETECTORS

    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    t0 = time.perf_counter()
    ref = resolve_model(recipe_or_model_dir)
    fm_dir, scenes_dir = resolve_data(data_dir)
    out = Path(out_dir) if out_dir else analysis_root() / ref.name
    log = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    # opened before anything is deleted: a model file or data that cannot be read leaves the old results alone
    log(f"[{ref.name}] loading {ref.path}")
    clf = open_classifier(ref, engine)
    faces, sel, subsample = None, [], None
    if any(REGISTRY[s].needs_faces for s in studies):  # also before anything is deleted: bad data says so first
        faces = sample_test_faces(fm_dir, limit // 2, seed, progress)
        # the sweeps use the first sweep_limit/2 faces of each class of the same sample
        for cls in CLASSES:
            sel += [i for i, t in enumerate(faces.truth) if t == cls][: sweep_limit // 2]
        subsample = {
            "test_faces": len(faces.paths),
            "per_class": {c: faces.truth.count(c) for c in CLASSES},
            "sweep_faces": len(sel),
            "note": (f"Test faces drawn at random with seed {seed}: {limit // 2} per class for the angle and "
                     f"occluder studies, the first {sweep_limit // 2} per class of those for the distance and "
                     "lighting sweeps. The same faces for every model."),
        }
    out.mkdir(parents=True, exist_ok=True)
    # a run replaces the folder's earlier results: a table left from another run (other studies,
    # another model) would be shown beside this one's as if they belonged together. Thumbnails
    # saved by older versions go too (examples are cut from the data now).
    kept = _kept(out, ref, studies, seed, threshold, log) if add else None
    if kept is None:
        old_thumbs = out / "examples"
        for old in [out / f for f in (*RESULT_FILES, "summary.json")] + sorted(old_thumbs.glob("*.jpg")):
            old.unlink(missing_ok=True)
        if old_thumbs.is_dir() and not any(old_thumbs.iterdir()):
            old_thumbs.rmdir()
    else:  # only the tables of the studies run now go; examples.csv is rewritten below
        for name in studies:
            for f in REGISTRY[name].files:
                (out / f).unlink(missing_ok=True)

    summary: dict = {
        "name": ref.name, "model": str(ref.path), "model_sha256": model_sha256(ref.path), "engine": clf.kind,
        "threshold": threshold,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {"facemask12k": str(fm_dir), "dev_scenes": str(scenes_dir) if scenes_dir else None},
        "seed": seed, "studies": {}, "files": [],
    }

    if faces is not None:
        summary["subsample"] = subsample
    ctx = Context(ref, clf, fm_dir, scenes_dir, faces, sel, detector, seed, limit, threshold, progress, log,
                  out=out)

    files: list[str] = []
    example_rows: list[dict] = []

    def write(df: pd.DataFrame, name: str) -> None:
        df.to_csv(out / name, index=False, float_format="%.6g")
        files.append(name)

    for name, study in REGISTRY.items():
        if name not in studies:
            continue
        log(f"[{ref.name}] {study.title.lower()}")
        result = study.run(ctx)
        ctx.done[name] = result
        for file_name, df in result.tables.items():
            write(df, file_name)
        summary["studies"][name] = result.block
        example_rows += result.examples
    examples_table = ex.table(example_rows)
    if kept is not None:  # the other studies' blocks, tables and examples, in the registry's order
        blocks = {**kept["summary"].get("studies", {}), **summary["studies"]}
        summary["studies"] = {n: blocks[n] for n in [*REGISTRY, *blocks] if n in blocks}
        if "subsample" not in summary and "subsample" in kept["summary"]:
            summary["subsample"] = kept["summary"]["subsample"]
        files = [f for f in kept["files"] if f not in files] + files
        examples_table = pd.concat([kept["examples"], examples_table], ignore_index=True)
    files = [f for f in files if f != "examples.csv"]
    if len(examples_table):
        write(examples_table, "examples.csv")
    summary["files"] = files
    summary["runtime_s"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default), encoding="utf-8")
    log(f"[{ref.name}] wrote {out} in {summary['runtime_s']:.0f} s")
    return summary


def _kept(out: Path, ref, studies, seed: int, threshold: float, log) -> dict | None:
    """What a run that adds `studies` keeps of the folder's results: {"summary", "files" (the other
    studies' tables), "examples" (their examples.csv rows)}; None when there is nothing to keep
    or the results are of another model, seed or threshold."""
    try:
        prev = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # the same model: the same file as the project names it (an absolute path differs between
    # checkouts) and, where the summary recorded it, the same content
    same = (shown_path(prev.get("model", "")) == shown_path(ref.path)
            and prev.get("model_sha256", model_sha256(ref.path)) == model_sha256(ref.path)
            and prev.get("seed") == seed and float(prev.get("threshold", 0.5)) == float(threshold))
    if not same:
        log(f"[{ref.name}] {out} holds results of another model, seed or threshold: replacing them all")
        return None
    now = {f for name in studies for f in REGISTRY[name].files}
    files = [f for f in prev.get("files", []) if f not in now and f != "examples.csv" and (out / f).is_file()]
    examples = ex.table([])
    if (out / "examples.csv").is_file():
        old = pd.read_csv(out / "examples.csv", dtype={"draw_seed": str})
        examples = old[~old["study"].isin(list(studies))].reindex(columns=ex.COLUMNS)
    prev["studies"] = {n: b for n, b in prev.get("studies", {}).items() if n not in studies}
    return {"summary": prev, "files": files, "examples": examples}


def model_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def cmd_analyze(args: argparse.Namespace) -> int:
    """The analyze subcommand (its parser is in maskdash.cli)."""
    studies = tuple(s.strip() for s in args.studies.split(",") if s.strip())
    bad = [s for s in studies if s not in REGISTRY]
    if bad:
        print(f"error: unknown studies: {', '.join(bad)}; choose from {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    if not studies:
        print(f"error: no studies given; choose from {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    from maskdash.inference.detection import DetectorUnavailable
    from maskdash.model.runtime import ModelFileError

    root = Path(args.out) if args.out else analysis_root()
    done, folders = 0, set()
    for m in args.models:
        try:
            ref = resolve_model(m)
        except FileNotFoundError as exc:
            print(f"skipping {m}: {exc}", file=sys.stderr)
            continue
        folder = ref.name
        if folder in folders:  # two model files in one folder: the second must not overwrite the first's results
            folder = f"{ref.name}-{Path(ref.path).stem}"
        folders.add(folder)
        try:
            s = run_analysis(m, args.data, root / folder, studies, progress=True, limit=args.limit,
                             sweep_limit=args.sweep_limit, seed=args.seed, detector=args.detector,
                             engine=args.engine, add=getattr(args, "add", False))
        except ModelFileError as exc:  # this model cannot be read; the others still can
            print(f"skipping {m}: {exc}", file=sys.stderr)
            continue
        except (ValueError, DetectorUnavailable) as exc:  # bad option or missing detector: say which
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(summary_lines(s)))
        done += 1
    if not done:
        print("error: no model could be analysed", file=sys.stderr)
        return 2
    return 0
