"""`predict --engine ray`: the same rows as the local engine, from Ray Data workers, resumable.

The input list (in the order `batch.gather` gives) is cut into fixed blocks of `block_size`
files. Each block is one row of a Ray Dataset; `map_batches` hands it to a pool of actors that
load the classifier and detector once, and returns the block's CSV text and counts. The driver
saves each finished block atomically as a part in `<csv>.parts/` (beside the CSV, on the
driver's machine, so a cluster needs no shared output folder), and only submits blocks without a
part: a rerun after a kill picks up where it stopped. The CSV is the parts joined in block order,
byte for byte what the local engine writes.

A block whose worker dies is lost to that pass (tasks are not retried behind our back, so that a
file that crashes the decoder cannot loop forever); the next pass retries it, with a line saying
so. Ray is imported only here, and only when this engine runs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

from maskdash.files import write_json_atomic, write_text_atomic
from maskdash.inference import batch

MANIFEST = "manifest.json"
BLOCK_SIZE = 64  # files per block: seconds of work each, few enough parts for millions of files
PASSES = 3  # a block lost this many times in a row stops the run (its files may crash the worker)


class ResumeMismatch(ValueError):
    """The parts folder holds blocks of another run (other inputs or options)."""


# -- the parts folder -----------------------------------------------------------------------------
def parts_dir(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".parts")


def blocks(paths: list[Path], block_size: int) -> list[list[Path]]:
    return [paths[i:i + block_size] for i in range(0, len(paths), block_size)]


def manifest(paths: list[Path], opts: batch.Options, block_size: int) -> dict:
    """What a part's content depends on: a rerun may reuse the parts only if this is equal."""
    model = Path(opts.model)
    stat = model.stat()
    return {"inputs_sha256": batch.inputs_digest(paths), "files": len(paths), "block_size": block_size,
            "options": asdict(opts), "model_size": stat.st_size, "model_mtime_ns": stat.st_mtime_ns}


class PartStore:
    """`<csv>.parts/`: the manifest and one `NNNNNN.json` per finished block."""

    def __init__(self, csv_path: Path, doc: dict, fresh: bool = False):
        self.dir = parts_dir(csv_path)
        with batch.writing(self.dir):
            if fresh and self.dir.exists():
                shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True, exist_ok=True)
            self._check(doc)

    def _check(self, doc: dict) -> None:
        path = self.dir / MANIFEST
        if not path.exists():
            write_json_atomic(path, doc)
            return
        if json.loads(path.read_text()) != doc:
            raise ResumeMismatch(
                f"{batch.shown(self.dir)} holds the blocks of a run with other inputs or options; "
                "rerun that command to finish it, or add --fresh to discard them")

    def path(self, k: int) -> Path:
        return self.dir / f"{k:06d}.json"

    def done(self, n: int) -> set[int]:
        return {k for k in range(n) if self.path(k).exists()}

    def save(self, k: int, text: str) -> None:
        with batch.writing(self.path(k)):
            write_text_atomic(self.path(k), text)

    def load(self, k: int) -> dict:
        return json.loads(self.path(k).read_text(encoding="utf-8"))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the workers ----------------------------------------------------------------------------------
class BlockWorker:
    """One Ray actor: the models loaded once, then any number of blocks, one per call."""

    def __init__(self, opts: batch.Options, threads: int):
        import cv2

        # Each worker gets its share of the cores: N workers × all-core thread pools would
        # fight over the same cores (OpenCV runs YuNet, LiteRT the classifier).
        cv2.setNumThreads(threads)
        self.predict = batch.Predictor(opts, threads=threads)

    def __call__(self, rows: dict) -> dict:
        import numpy as np

        parts = [self.block(int(k), list(paths)) for k, paths in zip(rows["block"], rows["paths"])]
        return {"block": np.asarray(rows["block"]), "part": np.asarray(parts, dtype=object)}

    def block(self, k: int, paths: list[bytes]) -> str:
        """A block's part: its CSV text, the lines for files without rows, and its counts."""
        outcomes = [self.predict(Path(os.fsdecode(p))) for p in paths]
        tally = batch.Tally()
        for o in outcomes:
            tally.add(o)
        return json.dumps({
            "block": k, "csv": batch.csv_text(outcomes, self.predict.opts),
            "lines": [(o.source, o.error) for o in outcomes if o.error is not None or o.no_face],
            "tally": asdict(tally), "note": self.predict.note,
        })


# -- the driver -----------------------------------------------------------------------------------
def predict_ray(paths: list[Path], opts: batch.Options, out: Path, *, workers: int | None = None,
                address: str | None = None, block_size: int | None = None, fresh: bool = False,
                err=None) -> tuple[batch.Tally, int, int]:
    """Every file on Ray; the merged CSV at `out`. Returns the tally, the files read by this run
    (fewer than all when resumed) and the number of workers."""
    err = err or sys.stderr
    _import_ray()
    block_size = block_size or BLOCK_SIZE
    if block_size < 1:
        raise ValueError("--block-size must be at least 1")
    if workers is not None and workers < 1:
        raise ValueError("--workers must be at least 1")
    # The models are opened here first: a bad model file or detector name is one clear error
    # before Ray starts, not workers dying one after another (the local engine's messages).
    note = batch.Predictor(opts, threads=1).note
    if note:
        print(note, file=err)
    cut = blocks(paths, block_size)
    store = PartStore(out, manifest(paths, opts, block_size), fresh)
    todo = sorted(set(range(len(cut))) - store.done(len(cut)))
    if len(todo) < len(cut):
        print(f"resuming: {len(cut) - len(todo)} of {len(cut)} blocks already done", file=err)
    processed = sum(len(cut[k]) for k in todo)
    workers = workers or 0
    if todo:
        workers = _run(cut, todo, store, opts, workers, address, err)
    tally = _merge(store, len(cut), opts, out, err, note)
    store.remove()
    return tally, processed, workers


def _import_ray() -> None:
    try:
        import ray.data  # noqa: F401  (also makes `ray.data` an attribute of `ray`)
    except ImportError as exc:
        raise RuntimeError(f"--engine ray needs Ray ({exc}): pip install -r requirements-scale.txt") from None


def _run(cut: list[list[Path]], todo: list[int], store: PartStore, opts: batch.Options, workers: int,
         address: str | None, err) -> int:
    """Passes over the blocks not done until none is left; returns the workers used."""
    import ray

    _init(ray, address, workers)
    try:
        workers = workers or int(ray.cluster_resources().get("CPU", 1))
        # Locally the workers share this machine's cores (one worker gets them all, as the local
        # engine does); on a cluster each worker asks for one CPU and runs one thread.
        threads = 1 if address else max(1, (os.cpu_count() or 1) // workers)
        print(f"ray: {workers} worker(s), {threads} thread(s) each, {len(todo)} block(s) of up to "
              f"{len(cut[0])} files", file=err)
        for attempt in range(1, PASSES + 1):
            todo, died = _pass(ray, cut, todo, store, opts, workers, threads)
            why = "its worker died" if died else "its worker died or failed, see above"
            for k in todo:
                print(f"block {k} lost ({why}), retrying" if attempt < PASSES else
                      f"block {k} lost {PASSES} times ({batch.shown(cut[k][0])} … {batch.shown(cut[k][-1])})",
                      file=err)
            if not todo:
                break
        if todo:
            raise RuntimeError(f"{len(todo)} block(s) failed on every try (a file in them may crash the "
                               "worker); the other blocks are saved: rerun the same command to retry them")
    finally:
        ray.shutdown()
    return workers


def _init(ray, address: str | None, workers: int) -> None:
    """Connect to a cluster, or start a lean local Ray (no dashboard) with `workers` CPUs."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MASKDASH_")}
    if address:
        # A cluster's workers import this project's package from the job, and read the settings
        # the driver has; photos and the model must be at the same paths on every node.
        pkg = str(Path(batch.__file__).resolve().parent.parent)
        ray.init(address=address, runtime_env={"py_modules": [pkg], "env_vars": env}, logging_level="WARNING")
    else:
        # At least one CPU per worker, so that more workers than cores still all start.
        cpus = max(os.cpu_count() or 1, workers)
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")


def _pass(ray, cut, todo: list[int], store: PartStore, opts: batch.Options, workers: int,
          threads: int) -> tuple[list[int], bool]:
    """One Ray Data run over the blocks in `todo`; each part saved as it arrives. Returns the
    blocks that came back without a part, and whether every one of them was lost to a dead worker
    (else an error in the code failed some, logged above)."""
    ctx = ray.data.DataContext.get_current()
    ctx.max_errored_blocks = -1  # a lost block must not end the pass: it is retried in the next
    items = [{"block": k, "paths": [os.fsencode(p) for p in cut[k]]} for k in todo]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing actor options this way but offers no other for these two.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        ds = ds.map_batches(
            BlockWorker, fn_constructor_kwargs={"opts": opts, "threads": threads}, batch_size=1,
            batch_format="numpy", num_cpus=threads,
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
            # A dead worker is restarted, but its block is not retried inside the pass: the pass
            # reports it, and a crash-looping file cannot retry forever.
            max_restarts=-1, max_task_retries=0)
    with _BlockErrors() as errors:
        for row in ds.iter_rows():
            store.save(int(row["block"]), str(row["part"]))
    return sorted(set(todo) - store.done(len(cut))), errors.other == 0


class _BlockErrors(logging.Filter):
    """Watches Ray Data's log of failed blocks during a pass: whether each was a worker's death
    (logged in one line, as ours says what happens next) or an error in the code (logged whole)."""

    NAME = "ray.data._internal.execution.streaming_executor_state"

    def __init__(self):
        super().__init__()
        self.other = 0  # failures that were not a dead worker

    def filter(self, record: logging.LogRecord) -> bool:
        from ray.exceptions import RayActorError

        if "Ignoring this exception" in record.getMessage() and record.exc_info:
            if isinstance(record.exc_info[1], RayActorError):
                record.exc_info = record.exc_text = None
            else:
                self.other += 1
        return True

    def __enter__(self):
        logging.getLogger(self.NAME).addFilter(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger(self.NAME).removeFilter(self)


def _merge(store: PartStore, n: int, opts: batch.Options, out: Path, err, note: str | None) -> batch.Tally:
    """The CSV from the parts in block order (header first), written atomically; the lines for
    files without rows printed again, in input order; the counts of all blocks."""
    tally = batch.Tally()
    texts, notes = [], set()
    for k in range(n):
        part = store.load(k)
        texts.append(part["csv"])
        tally.merge(batch.Tally.of(part["tally"]))
        if part["note"]:  # a worker's detector fell back (its node lacks a detector file)
            notes.add(part["note"])
        for source, error in part["lines"]:
            batch.report(batch.Outcome(source, error=error), err)
    for text in sorted(notes - {note}):
        print(text, file=err)
    with batch.writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, batch.csv_header(opts) + "".join(texts))
    return tally
