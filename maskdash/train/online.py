"""Online-augmentation training, for a machine with an accelerator (it also runs on a CPU, slowly).

`train.py` caches frozen features because it trains on 2 CPU cores, so it sees two augmented views
per face and can only fine-tune blocks 13–16. This trainer draws fresh views of every face each
epoch in worker processes (`augment.online_augment`, which adds non-mask objects over unmasked
mouths and distractors on every face) and fine-tunes the base from `FULL_CUT` up, BatchNorm frozen.

It is plain Keras 3, so it runs on any backend: TensorFlow here, JAX on the GPU machine (which has
no TensorFlow); the `.keras` file it writes loads anywhere. Input is a pack (`maskdash.data.pack`) or
the data folders. Checkpoints are chosen on validation only — the mean of the Face Mask 12K
Validation loss and the class-balanced loss on the scene_val faces (dev train fold) — never on
Test or the dev holdout.

Run folder: args.json (with what the pack held), history.csv (one row per epoch), best.keras,
last.keras, skipped.csv, training.json (time and machine)."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from multiprocessing import shared_memory
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from maskdash.data import augment

from maskdash.data import datasets


from maskdash.labels import CLASSES
from maskdash.evaluation import evaluate
from maskdash.data.pack import Pack, build_pack, load_pack

# Blocks above this layer of MobileNetV2 learn in the fine-tuning stage; the stem and the first
# two blocks (edges, colour blobs) keep their ImageNet weights.
FULL_CUT = "block_2_add"
HISTORY_COLUMNS = [
    "epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
    "scene_val_loss", "scene_val_balanced_accuracy", "selection_loss",
]


@dataclass
class OnlineArgs:
    data: str  # a pack (.npz) or a Face Mask 12K folder
    out: str = "runs/online"
    dev_scenes: str | None = None  # used when `data` is a folder
    init: str | None = None  # start from this model instead of ImageNet + a fresh head
    base_weights: str | None = None
    epochs: int = 14
    head_epochs: int = 1  # ignored with `init`
    batch_size: int = 128
    lr: float = 1e-3
    fine_tune_lr: float = 5e-5
    cut: str = FULL_CUT
    dev_weight: float = 3.0
    cover_p: float = 0.25  # share of unmasked faces given a non-mask object over the mouth
    distract_p: float = 0.15
    minutes: float | None = None  # stop starting epochs after this long (a lease's limit)
    workers: int = 0  # 0: one per CPU core, less one
    limit: int | None = None
    seed: int = 1234


# Worker state. The decoded faces live in one shared-memory block that every worker maps, so
# they are neither copied nor pickled per batch. Workers are spawned, not forked: a process that
# has already started TensorFlow's or OpenCV's threads (a test session, a notebook) can deadlock
# its forked children.
_W: dict = {}


def _worker_init(shm_name: str, shape: tuple, labels: np.ndarray, backgrounds: list, cover_p: float,
                 distract_p: float) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already
    shm = shared_memory.SharedMemory(name=shm_name)
    _W.update(shm=shm, images=np.ndarray(shape, np.uint8, buffer=shm.buf), labels=labels,
              backgrounds=backgrounds, cover_p=cover_p, distract_p=distract_p)


def _augment_batch(task: tuple[np.ndarray, int]) -> np.ndarray:
    idx, seed = task
    rng = np.random.default_rng(seed)
    imgs, labels, bgs = _W["images"], _W["labels"], _W["backgrounds"]
    out = np.empty((len(idx), *imgs.shape[1:]), np.uint8)
    for k, i in enumerate(idx):
        out[k] = augment.online_augment(
            imgs[i], rng, int(labels[i]), bgs, cover_p=_W["cover_p"], distract_p=_W["distract_p"]
        )
    return out


def _class_balanced_loss(p: np.ndarray, y: np.ndarray) -> float:
    ce = -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))
    return float(np.mean([ce[y == c].mean() for c in np.unique(y)]))


def _save_for_inference(model, path: Path) -> None:
    """A `.keras` file without the optimizer's state, a third of the size (a compiled model saves
    Adam's two slots per weight; these checkpoints are for inference, a run is not resumed)."""
    fresh = model.__class__.from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    fresh.save(path)


def _lr_at(epoch: int, first: int, last: int, peak: float) -> float:
    """Fine-tuning rate: a quarter of `peak` for the first epoch (Adam's first steps move every
    weight by about the rate at once, which shifts MobileNetV2's activations under frozen
    BatchNorm), then cosine decay from `peak` to the last epoch."""
    if epoch == first and last > first:
        return peak / 4
    first += 1
    if last <= first:
        return peak
    t = (epoch - first) / (last - first)
    return float(1e-6 + 0.5 * (peak - 1e-6) * (1 + np.cos(np.pi * t)))


def _load(args: OnlineArgs) -> Pack:
    if str(args.data).endswith(".npz"):
        return load_pack(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pack.npz"
        build_pack(args.data, args.dev_scenes, path, limit=args.limit)
        return load_pack(path)


def train_online(args: OnlineArgs) -> Path:
    """Train into `args.out`; returns the path of the best checkpoint."""
    t_start = time.time()
    run = Path(args.out)
    run.mkdir(parents=True, exist_ok=True)
    (run / "args.json").write_text(json.dumps(asdict(args), indent=2))
    pack = _load(args)
    with open(run / "skipped.csv", "w", newline="") as f:  # unreadable files, found when packing
        csv.writer(f).writerows([("path", "reason"), *pack.skipped])
    x_tr, y_tr, src_tr = pack.select("train")
    x_va, y_va, _ = pack.select("val")
    x_sv, y_sv, _ = pack.select("scene_val")
    if args.limit:
        keep = np.concatenate([np.flatnonzero(y_tr == c)[: args.limit] for c in range(len(CLASSES))])
        x_tr, y_tr, src_tr = x_tr[keep], y_tr[keep], src_tr[keep]
    if len(x_tr) == 0 or len(x_va) == 0:
        raise SystemExit("no training or validation faces")
    contents = {"train": len(x_tr), "scene_faces": int(src_tr.sum()), "val": len(x_va), "scene_val": len(x_sv),
                "backgrounds": len(pack.backgrounds)}
    print(", ".join(f"{k} {v}" for k, v in contents.items()))
    # what the data held, beside the arguments (a pack names no data folders)
    (run / "args.json").write_text(json.dumps({**asdict(args), "pack": contents}, indent=2))

    backgrounds, shape = pack.backgrounds, x_tr.shape
    shm = shared_memory.SharedMemory(create=True, size=max(1, x_tr.nbytes))
    np.ndarray(shape, np.uint8, buffer=shm.buf)[:] = x_tr
    del pack, x_tr  # the shared block holds the training faces now
    try:
        return _train(args, run, t_start, shm, shape, y_tr, src_tr, backgrounds, x_va, y_va, x_sv, y_sv)
    finally:
        shm.close()
        shm.unlink()


def _train(args: OnlineArgs, run: Path, t_start: float, shm, shape, y_tr, src_tr, backgrounds,
           x_va, y_va, x_sv, y_sv) -> Path:
    import keras

    from maskdash.model.network import build_model, load_model, set_fine_tune
    from maskdash.train.cached import sample_weights

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.init:
        model = load_model(args.init)
        head_epochs = 0
    else:
        model = build_model("robust", args.base_weights)
        head_epochs = args.head_epochs
    weights = sample_weights(y_tr, src_tr, args.dev_weight)
    y_tr_1h = keras.utils.to_categorical(y_tr, 2)

    def predict(x: np.ndarray, batch: int = 64) -> np.ndarray:
        # fixed-shape batches (the last one padded), so a compiling backend compiles once
        out = []
        for i in range(0, len(x), batch):
            xb = x[i : i + batch]
            pad = batch - len(xb)
            if pad:
                xb = np.concatenate([xb, np.zeros((pad, *xb.shape[1:]), xb.dtype)])
            out.append(np.asarray(model.predict_on_batch(xb))[: batch - pad])
        return np.concatenate(out) if out else np.zeros((0, 2), np.float32)

    hist_path = run / "history.csv"
    with open(hist_path, "w", newline="") as f:
        csv.writer(f).writerow(HISTORY_COLUMNS)
    best, compiled = None, None
    epoch_seconds: list[float] = []
    last_epoch = args.epochs
    workers = args.workers or max(1, (os.cpu_count() or 2) - 1)
    pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(
        shm.name, shape, y_tr, backgrounds, args.cover_p, args.distract_p))
    try:
        for epoch in range(1, args.epochs + 1):
            if epoch > last_epoch:
                break
            elapsed_min = (time.time() - t_start) / 60
            if args.minutes and epoch_seconds and elapsed_min + max(epoch_seconds[-2:]) / 60 > args.minutes:
                print(f"time budget: stopping before epoch {epoch} ({elapsed_min:.1f} min used)")
                break
            stage = "head" if epoch <= head_epochs else "fine_tune"
            if stage != compiled:
                set_fine_tune(model, None if stage == "head" else args.cut)
                model.compile(keras.optimizers.Adam(args.lr), "categorical_crossentropy", metrics=["accuracy"])
                compiled = stage
            lr = args.lr if stage == "head" else _lr_at(epoch, head_epochs + 1, last_epoch, args.fine_tune_lr)
            model.optimizer.learning_rate.assign(lr)
            t0 = time.time()
            order = rng.permutation(len(y_tr))
            batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
            seeds = rng.integers(0, 2**31, len(batches))
            losses, accs, counts = [], [], []
            for idx, xb in zip(batches, pool.imap(_augment_batch, zip(batches, seeds))):
                loss, acc = model.train_on_batch(xb, y_tr_1h[idx], sample_weight=weights[idx])
                losses.append(float(loss))
                accs.append(float(acc))
                counts.append(len(idx))
            p_va, p_sv = predict(x_va), predict(x_sv)
            val_loss = float(np.mean(-np.log(np.clip(p_va[np.arange(len(y_va)), y_va], 1e-7, 1))))
            val_acc = evaluate.metrics(y_va, p_va[:, 0])["accuracy"]
            sv_loss = _class_balanced_loss(p_sv, y_sv) if len(y_sv) else val_loss
            sv_bacc = evaluate.metrics(y_sv, p_sv[:, 0])["balanced_accuracy"] if len(y_sv) else float("nan")
            selection = (val_loss + sv_loss) / 2
            seconds = time.time() - t0
            epoch_seconds.append(seconds)
            if args.minutes and epoch == head_epochs + 2:
                # the second fine-tuning epoch is the first without compiling: fit the cosine
                # schedule to the epochs the time budget allows
                left = args.minutes * 60 - (time.time() - t_start)
                last_epoch = min(args.epochs, epoch + int(left // (seconds * 1.05)))
                print(f"time budget: training to epoch {last_epoch}")
            # train_on_batch reports one batch; the epoch's figure is their mean over faces
            loss, acc = float(np.average(losses, weights=counts)), float(np.average(accs, weights=counts))
            row = [epoch, stage, loss, acc, val_loss, val_acc, lr, round(seconds, 1), sv_loss, sv_bacc, selection]
            with open(hist_path, "a", newline="") as f:
                csv.writer(f).writerow(row)
            print(f"epoch {epoch} ({stage}, lr {lr:.2e}) loss {loss:.4f} acc {acc:.4f} "
                  f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} scene_val_loss {sv_loss:.4f} "
                  f"scene_val_bacc {sv_bacc:.4f} ({seconds:.0f}s)", flush=True)
            if best is None or selection < best:
                best = selection
                _save_for_inference(model, run / "best.keras")
            _save_for_inference(model, run / "last.keras")
    finally:
        pool.terminate()
        pool.join()
    facts = {"wall_seconds": round(time.time() - t_start), "epoch_seconds_total": round(sum(epoch_seconds)),
             "machine": _machine(keras.backend.backend(), keras.__version__)}
    (run / "training.json").write_text(json.dumps(facts, indent=2))
    return run / "best.keras"


def _machine(backend: str, keras_version: str) -> str:
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


def main(argv: list[str] | None = None) -> int:  # for the GPU machine: no CLI dependencies
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in asdict(OnlineArgs(data="")).items():
        kind = type(value) if value is not None else str
        if name in ("minutes",):
            kind = float
        if name in ("limit",):
            kind = int
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value, required=name == "data")
    best = train_online(OnlineArgs(**vars(p.parse_args(argv))))
    print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
