"""The one training loop, for every feed (`cached`, `online`) and recipe (`seed`, `robust`).

Stages: `head` (the base frozen) for `head_epochs`, then `fine_tune` (the base above `cut` learns,
BatchNorm frozen); a recipe without a cut has only the head stage. Each stage starts a new Adam.

Schedules: `plateau` — `lr` for the head, `fine_tune_lr` for fine-tuning, ×0.3 after every 2
epochs without a better checkpoint and a stop after 3 (ReduceLROnPlateau, EarlyStopping);
`cosine` — `lr` for the head, a quarter of `fine_tune_lr` for the first fine-tuning epoch (Adam's
first steps move every weight by about the rate at once, which shifts MobileNetV2's activations
under frozen BatchNorm), then cosine decay to the last epoch. `minutes` stops starting epochs
when the next would not fit, and fits the cosine to the epochs the budget allows.

Checkpoint rule: `best.keras` is the epoch with the lowest selection loss — the mean of the
validation loss and the class-balanced loss on the real faces kept from training where the feed
has them (the online feed's pack: the dev scenes' `scene_val` faces and the extra faces' val fold;
the cached feed: the extra faces' val fold), else the validation loss. Never Test or a holdout.

Resume: every epoch ends with a checkpoint of everything the next epoch depends on (weights,
optimizer slots, the random generators, the schedule's state), so an interrupted run started
again with the same arguments goes on where it stopped and ends where it would have ended."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.evaluation import evaluate
from maskdash.train import config
from maskdash.train.config import TrainArgs
from maskdash.train.feeds import make_feed
from maskdash.train.run import Checkpoint, Run, machine, write_atomic, write_json

PLATEAU_PATIENCE_LR, PLATEAU_PATIENCE_STOP, PLATEAU_FACTOR = 2, 3, 0.3


def train(args: TrainArgs) -> Path:
    """Train into `args.out` (resuming the run there, if any); returns the best checkpoint's path."""
    args = config.resolve(args)
    session_start = time.time()
    run = Run(args.out)
    arguments = config.to_json(args)
    ckpt = run.load_checkpoint()
    if ckpt:
        differ = config.differences(ckpt.state["args"], arguments)
        if differ:
            raise SystemExit(f"{settings.display_path(run.dir)} holds a run with other arguments "
                             f"({', '.join(differ)}); choose another --out")
    old_args = run.read_args()
    run.write_args(arguments, (old_args or {}).get("contents") if ckpt else None)
    state = ckpt.state if ckpt else _fresh_state(args, arguments)
    state["args"] = arguments  # the same training; `out` may have moved, `epochs` grown
    if not args.minutes or state["epoch"] == 0:
        state["last_epoch"] = args.epochs
    state["last_epoch"] = min(state["last_epoch"], args.epochs)
    if ckpt:  # history.csv and state.json from the checkpoint, whatever became of them
        run.write_records(state)
    if ckpt and _finished(state, args) and _facts_cover(run, state):
        print(f"{settings.display_path(run.dir)}: finished after epoch {state['epoch']}"
              + (" (early stop)" if state.get("stopped") else ""))
        return run.best

    settings.quiet_tensorflow()
    import keras

    feed = None
    if ckpt and _finished(state, args):  # stopped between its last checkpoint and its facts
        print(f"{settings.display_path(run.dir)}: finished after epoch {state['epoch']}; "
              "writing the run's records")
    if not _finished(state, args):
        from maskdash.model.network import build_model, load_model, set_preprocess, widen

        keras.utils.set_random_seed(args.seed)
        if args.init:
            model = widen(load_model(args.init), args.classes)
            if args.preprocess is not None:
                model = set_preprocess(model, args.preprocess)
        else:
            model = build_model(args.recipe, args.base_weights, args.classes, args.preprocess or "rescale")
        if ckpt:
            _assign(model.variables, ckpt.model, "model")
            print(f"resuming after epoch {state['epoch']}")
        feed = make_feed(args, run)
        try:
            net = feed.prepare(model)
            run.write_args(arguments, feed.contents)
            _epochs(args, run, model, net, feed, state, ckpt, session_start)
        finally:
            feed.close()
    facts = {"epochs": state["epoch"], "wall_seconds": round(state["wall_seconds"]),
             "epoch_seconds_total": round(sum(float(r[7]) for r in state["history"])),
             "machine": machine(keras.backend.backend(), keras.__version__)}
    seconds = getattr(feed, "feature_seconds", None) or _cache_seconds(run)
    if seconds:
        facts["feature_seconds"] = round(seconds)
    write_json(run.training, facts)
    return run.best


def _fresh_state(args: TrainArgs, arguments: dict) -> dict:
    return {"epoch": 0, "stage": "", "lr": args.lr, "best": None, "best_epoch": None, "since_best": 0,
            "last_epoch": args.epochs, "stopped": None, "wall_seconds": 0.0,
            "rng": np.random.default_rng(args.seed).bit_generator.state, "history": [], "args": arguments}


def _finished(state: dict, args: TrainArgs) -> bool:
    return bool(state.get("stopped")) or state["epoch"] >= min(args.epochs, state["last_epoch"])


def _facts_cover(run: Run, state: dict) -> bool:
    """Whether training.json describes the run up to its last epoch."""
    try:
        return json.loads(run.training.read_text()).get("epochs") == state["epoch"]
    except (OSError, ValueError, AttributeError):
        return False


def _cache_seconds(run: Run) -> float | None:
    try:
        return json.loads((run.cache / "manifest.json").read_text()).get("seconds")
    except (OSError, ValueError, AttributeError):
        return None


def _assign(variables, arrays: list[np.ndarray], what: str) -> None:
    shapes = [tuple(v.shape) for v in variables]
    if shapes != [a.shape for a in arrays]:
        raise SystemExit(f"the checkpoint's {what} state does not fit this {what} "
                         f"({len(arrays)} arrays for {len(shapes)} variables); choose another --out")
    for v, a in zip(variables, arrays):
        v.assign(a)


def _epochs(args: TrainArgs, run: Run, model, net, feed, state: dict, ckpt: Checkpoint | None,
            session_start: float) -> None:
    import keras

    from maskdash.model.network import set_fine_tune

    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    x_va, y_va, x_sv, y_sv = feed.validation()
    head_epochs = args.head_epochs or 0

    def stage_of(epoch: int) -> str:
        return "head" if args.cut is None or epoch <= head_epochs else "fine_tune"

    compiled = None
    wall_before = state["wall_seconds"]
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        if epoch > state["last_epoch"]:
            break
        elapsed = wall_before + time.time() - session_start
        spent = [float(r[7]) for r in state["history"][-2:]]
        if args.minutes and spent and elapsed + max(spent) > args.minutes * 60:
            print(f"time budget: stopping before epoch {epoch} ({elapsed / 60:.1f} min used)")
            break
        stage = stage_of(epoch)
        if stage != compiled:
            set_fine_tune(model, None if stage == "head" else args.cut)
            net.compile(keras.optimizers.Adam(args.lr), "categorical_crossentropy", metrics=["accuracy"])
            if ckpt and compiled is None and stage == state["stage"]:  # resumed within a stage
                net.optimizer.build(net.trainable_variables)
                _assign(net.optimizer.variables, ckpt.optimizer, "optimizer")
            compiled = stage
        lr = _learning_rate(args, state, epoch, stage, stage_of(epoch - 1) if epoch > 1 else None)
        net.optimizer.learning_rate.assign(lr)
        t0 = time.time()
        losses, accs, counts = [], [], []
        for xb, yb, wb in feed.epoch(rng, args.batch_size):
            loss, acc = net.train_on_batch(xb, yb, sample_weight=wb)
            losses.append(float(loss))
            accs.append(float(acc))
            counts.append(len(yb))
        # train_on_batch reports one batch; the epoch's figure is their mean over faces
        loss, acc = float(np.average(losses, weights=counts)), float(np.average(accs, weights=counts))
        p_va = _predict(net, x_va)
        val_loss = float(np.mean(-np.log(np.clip(p_va[np.arange(len(y_va)), y_va], 1e-7, 1))))
        val_acc = evaluate.metrics(y_va, p_va[:, 0])["accuracy"]
        sv_loss = sv_bacc = None
        if len(y_sv):
            p_sv = _predict(net, x_sv)
            sv_loss = _class_balanced_loss(p_sv, y_sv)
            sv_bacc = _balanced_accuracy(p_sv, y_sv)
        selection = val_loss if sv_loss is None else (val_loss + sv_loss) / 2
        seconds = time.time() - t0
        if args.minutes and args.schedule == "cosine" and epoch == head_epochs + 2:
            # the second fine-tuning epoch is the first without compiling: fit the cosine
            # schedule to the epochs the time budget allows
            left = args.minutes * 60 - (wall_before + time.time() - session_start)
            state["last_epoch"] = min(args.epochs, epoch + int(left // (seconds * 1.05)))
            print(f"time budget: training to epoch {state['last_epoch']}")
        state["history"].append([epoch, stage, loss, acc, val_loss, val_acc, lr, round(seconds, 1),
                                 sv_loss, sv_bacc, selection])
        scene = "" if sv_loss is None else (
            f" scene_val_loss {sv_loss:.4f} scene_val_bacc {math.nan if sv_bacc is None else sv_bacc:.4f}")
        print(f"epoch {epoch}/{args.epochs} ({stage}, lr {lr:.2e}) loss {loss:.4f} acc {acc:.4f} "
              f"val_loss {val_loss:.4f} val_acc {val_acc:.4f}{scene} ({seconds:.0f}s)", flush=True)
        next_lr = lr
        if state["best"] is None or selection < state["best"]:
            state.update(best=selection, best_epoch=epoch, since_best=0)
            write_atomic(run.best, lambda tmp: _save_for_inference(model, tmp))
        else:
            state["since_best"] += 1
            if args.schedule == "plateau" and state["since_best"] % PLATEAU_PATIENCE_LR == 0:
                next_lr = max(lr * PLATEAU_FACTOR, 1e-6)
        if args.schedule == "plateau" and state["since_best"] >= PLATEAU_PATIENCE_STOP:
            state["stopped"] = "early"  # the best weights are in best.keras
        state.update(epoch=epoch, stage=stage, lr=next_lr, rng=rng.bit_generator.state,
                     wall_seconds=wall_before + time.time() - session_start)
        run.save_checkpoint(Checkpoint(state, [v.numpy() for v in model.variables],
                                       [v.numpy() for v in net.optimizer.variables]))
        if state["stopped"]:
            print("early stopping: the selection loss has not improved")
            break


def _learning_rate(args: TrainArgs, state: dict, epoch: int, stage: str, previous: str | None) -> float:
    if stage == "head":
        # plateau: a rate cut on the head stage carries on within it
        return state["lr"] if args.schedule == "plateau" and previous == "head" else args.lr
    if args.schedule == "plateau":
        return state["lr"] if previous == "fine_tune" else args.fine_tune_lr
    return cosine_lr(epoch, (args.head_epochs or 0) + 1, state["last_epoch"], args.fine_tune_lr)


def cosine_lr(epoch: int, first: int, last: int, peak: float) -> float:
    """A quarter of `peak` for the first epoch, then cosine decay from `peak` to the last."""
    if epoch == first and last > first:
        return peak / 4
    first += 1
    if last <= first:
        return peak
    t = (epoch - first) / (last - first)
    return float(1e-6 + 0.5 * (peak - 1e-6) * (1 + np.cos(np.pi * t)))


def _predict(net, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Fixed-shape batches (the last one padded), so that a compiling backend compiles once."""
    out = []
    for i in range(0, len(x), batch):
        xb = np.asarray(x[i : i + batch], np.float32)
        pad = batch - len(xb)
        if pad:
            xb = np.concatenate([xb, np.zeros((pad, *xb.shape[1:]), np.float32)])
        out.append(np.asarray(net.predict_on_batch(xb))[: batch - pad])
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def _class_balanced_loss(p: np.ndarray, y: np.ndarray) -> float:
    ce = -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))
    return float(np.mean([ce[y == c].mean() for c in np.unique(y)]))


def _balanced_accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Mean over the classes present of the share called that class (argmax): one figure for
    two or three classes."""
    pred = p.argmax(axis=1)
    return float(np.mean([(pred[y == c] == c).mean() for c in np.unique(y)]))


def _save_for_inference(model, path: Path) -> None:
    """A `.keras` file without optimizer state, a third of the size: a compiled model saves Adam's
    two slots per weight (the cached feed compiles the top, so its model has none to drop)."""
    if getattr(model, "optimizer", None) is not None:
        fresh = model.__class__.from_config(model.get_config())
        fresh.set_weights(model.get_weights())
        model = fresh
    model.save(path)
