"""The run folder: one format for every feed and recipe.

- `args.json`: the resolved arguments (`config.TrainArgs`) and what the data held (`contents`)
- `history.csv`: one row per finished epoch (`HISTORY_COLUMNS`)
- `best.keras`: the epoch chosen by the checkpoint rule (lowest selection loss), without optimizer state
- `last.ckpt.npz`: the last finished epoch — weights, optimizer slots, random state, loop state,
  history — from which a rerun resumes; `last.prev.npz`: the epoch before, a fallback
- `state.json`: the loop state, readable (the checkpoint holds the same)
- `skipped.csv`: unreadable files; `training.json`: time and machine; `cache/`: cached features

Every file is written whole under a temporary name and then renamed over the old one (`os.replace`
is atomic), so a kill at any moment leaves each file either old or new, never half-written, and a
damaged file is named in a note and replaced by the last good state rather than a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.files import TMP_PREFIX, write_atomic
from maskdash.files import write_text_atomic as write_text

HISTORY_COLUMNS = [
    "epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
    "scene_val_loss", "scene_val_balanced_accuracy", "selection_loss",
]
# What np.load and a JSON parse raise on a truncated, empty or foreign file.
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile)


class RunFileError(ValueError):
    """A run-folder file that exists but cannot be used; the message names it."""


def note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def write_json(path: Path, doc) -> None:
    write_text(path, json.dumps(doc, indent=2))


def write_csv(path: Path, columns: list[str], rows: list) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    w.writerows(rows)
    write_text(path, buf.getvalue())


def save_npy(path: Path, array: np.ndarray) -> None:
    write_atomic(path, lambda tmp: np.save(tmp, array))


def remove_temporaries(folder: Path) -> None:
    """Half-written files of a killed run."""
    for p in folder.glob(TMP_PREFIX + "*"):
        p.unlink(missing_ok=True)


@dataclass
class Checkpoint:
    state: dict  # the loop's state after `state["epoch"]` (see `check_state`)
    model: list[np.ndarray]  # every model variable, in `model.variables` order
    optimizer: list[np.ndarray]  # the optimizer's variables, for the stage `state["stage"]`


class Run:
    def __init__(self, out: str | Path):
        self.dir = Path(out)
        self.cache = self.dir / "cache"
        self.dir.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.dir)
        if self.cache.is_dir():
            remove_temporaries(self.cache)
        self.args, self.history = self.dir / "args.json", self.dir / "history.csv"
        self.state, self.best = self.dir / "state.json", self.dir / "best.keras"
        self.skipped, self.training = self.dir / "skipped.csv", self.dir / "training.json"
        self.last, self.prev = self.dir / "last.ckpt.npz", self.dir / "last.prev.npz"

    def name(self, path: Path) -> str:
        return settings.display_path(path)

    # ---- the checkpoint
    def load_checkpoint(self) -> Checkpoint | None:
        """The last good checkpoint: `last`, else (damaged or missing) the one before."""
        for path in (self.last, self.prev):
            if not path.exists():
                continue
            try:
                ckpt = self._read_checkpoint(path)
            except RunFileError as exc:
                note(f"{exc}; {'trying the epoch before' if path == self.last else 'starting over'}")
                path.unlink()  # so that it never becomes the fallback
                continue
            if path == self.prev:
                note(f"resuming from {path.name}, after epoch {ckpt.state['epoch']}")
            self._check_state_file(ckpt.state)
            return ckpt
        if self.state.exists():
            note(f"{self.name(self.state)} has no checkpoint beside it; starting over")
        return None

    def _read_checkpoint(self, path: Path) -> Checkpoint:
        try:
            with np.load(path, allow_pickle=False) as z:
                state = json.loads(str(z["state"]))
                n_model, n_opt = (sum(k.startswith(p) for k in z.files) for p in ("model_", "opt_"))
                model = [z[f"model_{i}"] for i in range(n_model)]
                optimizer = [z[f"opt_{i}"] for i in range(n_opt)]
        except READ_ERRORS as exc:
            raise RunFileError(f"{self.name(path)} is damaged ({type(exc).__name__}: {exc})") from exc
        problem = check_state(state)
        if problem:
            raise RunFileError(f"{self.name(path)} is damaged ({problem})")
        return Checkpoint(state, model, optimizer)

    def _check_state_file(self, state: dict) -> None:
        """state.json only mirrors the checkpoint; say so when it is damaged (it is rewritten)."""
        try:
            on_disk = json.loads(self.state.read_text())
            epoch = on_disk.get("epoch") if isinstance(on_disk, dict) else None
            problem = None if type(epoch) is int else f"epoch {epoch!r}"
        except FileNotFoundError:
            return
        except READ_ERRORS as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            note(f"{self.name(self.state)} is damaged ({problem}); using the checkpoint's state "
                 f"(after epoch {state['epoch']})")

    def save_checkpoint(self, ckpt: Checkpoint) -> None:
        """The new checkpoint is complete on disk before the previous one steps aside."""
        arrays = {f"model_{i}": a for i, a in enumerate(ckpt.model)}
        arrays.update({f"opt_{i}": a for i, a in enumerate(ckpt.optimizer)})
        tmp = self.dir / (TMP_PREFIX + self.last.name)
        np.savez(tmp, state=np.array(json.dumps(ckpt.state)), **arrays)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if self.last.exists():
            os.replace(self.last, self.prev)
        os.replace(tmp, self.last)
        self.write_records(ckpt.state)

    def write_records(self, state: dict) -> None:
        """history.csv and state.json: what the checkpoint holds, in readable form."""
        write_json(self.state, {k: v for k, v in state.items() if k not in ("history", "args")})
        write_csv(self.history, HISTORY_COLUMNS, state["history"])

    # ---- the arguments
    def read_args(self) -> dict | None:
        """args.json as written, or None when missing or damaged (said in a note)."""
        try:
            doc = json.loads(self.args.read_text())
        except FileNotFoundError:
            return None
        except READ_ERRORS as exc:
            note(f"{self.name(self.args)} is damaged ({type(exc).__name__}: {exc}); it is rewritten")
            return None
        if not isinstance(doc, dict):
            note(f"{self.name(self.args)} is damaged (not a JSON object); it is rewritten")
            return None
        return doc

    def write_args(self, args: dict, contents: dict | None = None) -> None:
        write_json(self.args, {**args, **({"contents": contents} if contents else {})})

    def write_skipped(self, rows) -> None:
        write_csv(self.skipped, ["path", "reason"], [list(r) for r in rows])


def check_state(state) -> str | None:
    """What is wrong with a loop state read back, or None."""
    if not isinstance(state, dict):
        return "the state is not a JSON object"
    kinds = {"epoch": int, "stage": str, "history": list, "rng": dict, "args": dict, "since_best": int,
             "lr": (int, float), "wall_seconds": (int, float)}
    for key, kind in kinds.items():
        if key not in state:
            return f"no {key!r} in the state"
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            return f"{key!r} is {state[key]!r}"
    if not isinstance(state.get("best"), (int, float)) or state["epoch"] < 1:
        return f"no best loss after epoch {state['epoch']}"
    if len(state["history"]) != state["epoch"]:
        return f"{len(state['history'])} history rows after epoch {state['epoch']}"
    return None


def machine(backend: str, keras_version: str) -> str:
    """Where this ran, for the model card: the accelerator if any, the CPU cores, the backend."""
    import platform

    device = None
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            device = d.device_kind if d.platform != "cpu" else None
        elif backend == "torch":
            import torch

            device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            device = gpus[0].name if gpus else None
    except Exception:  # a description only; never fail a finished run over it
        device = None
    cpu = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    return f"{device + ', ' if device else 'no GPU, '}{cpu}; Keras {keras_version} on {backend}"
