"""Training recipes and the run folder.

Both recipes keep the bottom of MobileNetV2 frozen, so its output for each augmented view is
computed once (through TFLite/XNNPACK, ~4× faster than Keras on a CPU) and cached in the run
folder; epochs then train only what learns. `seed`: the whole base is frozen, Flatten → Dense.
`robust`: head first, then blocks 13–16 fine-tuned at a low rate. Augmentation views are drawn
once per view (`views` of them per image) rather than anew each epoch — the price of training
on a 2-core CPU, recorded in args.json and the model card.

Run folder: args.json, history.csv (one row per epoch), best.keras (lowest val loss),
last.weights.h5 + state.json (resume after an interruption), skipped.csv, cache/."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from maskdash import settings

settings.quiet_tensorflow()


from maskdash.data import augment

from maskdash.data import datasets

from maskdash.labels import CLASSES
from maskdash.model.network import FINE_TUNE_CUT, build_model, set_fine_tune, split_at
from maskdash.model.runtime import TFLiteRunner, to_tflite

HISTORY_COLUMNS = ["epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"]


@dataclass
class TrainArgs:
    data: str
    recipe: str = "robust"
    out: str = "runs/robust"
    epochs: int | None = None  # total; default per recipe
    base_weights: str | None = None
    batch_size: int = 64
    views: int | None = None  # augmented copies per training image
    head_epochs: int = 2  # robust: epochs before fine-tuning
    lr: float = 1e-3
    fine_tune_lr: float = 1e-4
    dev_scenes: str | None = None  # robust: also learn from the 'train' fold of these scenes
    # Dev-scene faces are the only real small, crowded, mixed-light faces we have, and 84 % of them
    # are masked: each class of them gets `dev_weight` × its balanced share of the loss.
    dev_weight: float = 3.0
    limit: int | None = None  # per class, for quick runs and tests
    seed: int = 1234
    train_split: str = "Train"
    val_split: str = "Validation"
    extra: dict = field(default_factory=dict)

    def resolved(self) -> "TrainArgs":
        if self.epochs is None:
            self.epochs = 14 if self.recipe == "seed" else 6
        if self.views is None:
            self.views = 1 if self.recipe == "seed" else 2
        return self


def _limit(samples: list[datasets.Sample], limit: int | None) -> list[datasets.Sample]:
    if not limit:
        return samples
    out: list[datasets.Sample] = []
    for label in range(len(CLASSES)):
        out += [s for s in samples if s.label == label][:limit]
    return out


def _extract(runner, images: np.ndarray, desc: str, batch: int = 32) -> np.ndarray:
    from tqdm import tqdm

    outs = []
    for i in tqdm(range(0, len(images), batch), desc=desc, unit="batch"):
        outs.append(runner(images[i : i + batch].astype(np.float32)).astype(np.float16))
    return np.concatenate(outs)


def _augment_all(images: np.ndarray, labels: np.ndarray, recipe: str, rng: np.random.Generator) -> np.ndarray:
    out = np.empty_like(images)
    for i, (img, label) in enumerate(zip(images, labels)):
        if recipe == "seed":
            out[i] = augment.seed_augment(img, rng)
        else:
            out[i] = augment.robust_augment(img, rng, int(label))
    return out


def _write_skipped(path: Path, skipped: list[datasets.Skipped]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        for s in skipped:
            w.writerow([s.path, s.reason])


def train(args: TrainArgs) -> Path:
    """Train a recipe into `args.out`; returns the path of the best checkpoint."""
    import keras


    args.resolved()
    run = Path(args.out)
    (run / "cache").mkdir(parents=True, exist_ok=True)
    args_path = run / "args.json"
    state_path = run / "state.json"
    if state_path.exists() and args_path.exists():
        old = json.loads(args_path.read_text())
        if {k: v for k, v in old.items() if k != "epochs"} != {
            k: v for k, v in asdict(args).items() if k != "epochs"
        }:
            raise SystemExit(f"{run} holds a run with other arguments; choose another --out")
    args_path.write_text(json.dumps(asdict(args), indent=2))
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    model = build_model(args.recipe, args.base_weights)
    base = model.get_layer(index=2)
    cut = base.layers[-1].name if args.recipe == "seed" else FINE_TUNE_CUT
    bottom, top = split_at(model, cut)

    # ---- features, cached so an interrupted run resumes without recomputing
    cache = run / "cache"
    feats_path, val_path = cache / "train_x.npy", cache / "val_x.npy"
    if feats_path.exists() and val_path.exists():
        x_train, y_train = np.load(feats_path, mmap_mode="r"), np.load(cache / "train_y.npy")
        x_val, y_val = np.load(val_path), np.load(cache / "val_y.npy")
        print(f"using cached features from {cache}")
    else:
        skipped: list[datasets.Skipped] = []
        tr = datasets.load_samples(_limit(datasets.list_split(args.data, args.train_split), args.limit))
        va = datasets.load_samples(_limit(datasets.list_split(args.data, args.val_split), args.limit))
        skipped += tr.skipped + va.skipped
        images, labels = tr.images, tr.labels
        source = np.zeros(len(labels), np.uint8)  # 0: the image data set, 1: a dev-scene face
        if args.recipe == "robust" and args.dev_scenes:
            scenes, bad = datasets.list_scenes(args.dev_scenes)
            scenes = [s for s in scenes if datasets.scene_fold(s.image_path) == "train"]
            faces = datasets.load_scene_faces(scenes)
            skipped += bad + faces.skipped
            keep = [i for i, lab in enumerate(faces.labels) if lab in CLASSES]
            if args.limit:
                keep = keep[: args.limit]
            images = np.concatenate([images, faces.images[keep]])
            labels = np.concatenate([labels, [CLASSES.index(faces.labels[i]) for i in keep]])
            source = np.concatenate([source, np.ones(len(keep), np.uint8)])
            print(f"+ {len(keep)} dev-scene faces (train fold)")
        _write_skipped(run / "skipped.csv", skipped)
        if len(images) == 0 or len(va.images) == 0:
            raise SystemExit("no readable training or validation images")
        runner = TFLiteRunner(to_tflite(bottom, "none"), batch=32)
        xs, ys = [], []
        for v in range(args.views):
            aug = _augment_all(images, labels, args.recipe, rng)
            xs.append(_extract(runner, aug, f"features view {v + 1}/{args.views}"))
            ys.append(labels)
        x_train, y_train = np.concatenate(xs), np.concatenate(ys)
        np.save(cache / "train_src.npy", np.tile(source, args.views))
        x_val, y_val = _extract(runner, va.images, "features validation"), va.labels
        np.save(cache / "train_y.npy", y_train)
        np.save(cache / "val_y.npy", y_val)
        np.save(cache / "val_x.npy", x_val)
        np.save(feats_path, x_train)  # last: its presence marks a complete cache

    src_path = cache / "train_src.npy"
    src = np.load(src_path) if src_path.exists() else np.zeros(len(y_train), np.uint8)
    weights = sample_weights(np.asarray(y_train), src, args.dev_weight)

    # ---- epochs
    state = json.loads(state_path.read_text()) if state_path.exists() else {"epoch": 0, "best": None}
    if state["epoch"] > 0:
        model.load_weights(run / "last.weights.h5")
        print(f"resuming after epoch {state['epoch']}")
    hist_path = run / "history.csv"
    if state["epoch"] == 0 or not hist_path.exists():
        with open(hist_path, "w", newline="") as f:
            csv.writer(f).writerow(HISTORY_COLUMNS)

    def stage_of(epoch: int) -> str:
        return "head" if args.recipe == "seed" or epoch <= args.head_epochs else "fine_tune"

    lr = state.get("lr")
    patience_lr, patience_stop = 2, 3
    since_best = state.get("since_best", 0)
    compiled_stage = None
    y_train_1h = keras.utils.to_categorical(y_train, 2)
    y_val_1h = keras.utils.to_categorical(y_val, 2)
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        stage = stage_of(epoch)
        if stage != compiled_stage:
            if stage == "fine_tune":
                set_fine_tune(model, FINE_TUNE_CUT)
                # first fine-tuning epoch (also when resumed right after the head stage)
                if lr is None or (epoch > 1 and stage_of(epoch - 1) == "head"):
                    lr = args.fine_tune_lr
            else:
                set_fine_tune(model, None)
                lr = lr or args.lr
            top.compile(keras.optimizers.Adam(lr), "categorical_crossentropy", metrics=["accuracy"])
            compiled_stage = stage
        top.optimizer.learning_rate.assign(lr)
        t0 = time.time()
        order = rng.permutation(len(x_train))
        print(f"epoch {epoch}/{args.epochs} ({stage}, lr {lr:.2e})")
        h = top.fit(
            _batches(x_train, y_train_1h, weights, order, args.batch_size), epochs=1,
            steps_per_epoch=int(np.ceil(len(order) / args.batch_size)),
            verbose=1 if sys.stdout.isatty() else 2,
        ).history
        val_loss, val_acc = top.evaluate(x_val.astype(np.float32), y_val_1h, batch_size=128, verbose=0)
        seconds = time.time() - t0
        row = [epoch, stage, h["loss"][0], h["accuracy"][0], val_loss, val_acc, lr, round(seconds, 1)]
        with open(hist_path, "a", newline="") as f:
            csv.writer(f).writerow(row)
        print(f"  loss {h['loss'][0]:.4f} acc {h['accuracy'][0]:.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f} ({seconds:.0f}s)")
        if state["best"] is None or val_loss < state["best"]:
            state["best"] = val_loss
            since_best = 0
            model.save(run / "best.keras")
        else:
            since_best += 1
            if since_best % patience_lr == 0:  # ReduceLROnPlateau
                lr = max(lr * 0.3, 1e-6)
        model.save_weights(run / "last.weights.h5")
        state.update(epoch=epoch, lr=lr, since_best=since_best)
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, state_path)
        if since_best >= patience_stop:  # EarlyStopping (best weights are in best.keras)
            print("early stopping: validation loss has not improved")
            break
    return run / "best.keras"


def sample_weights(labels: np.ndarray, source: np.ndarray, dev_weight: float) -> np.ndarray:
    """1 for data-set images; dev-scene faces of class c get dev_weight · n_dev / (2 · n_dev_c),
    so both classes of real scene faces count equally however skewed the scenes are."""
    w = np.ones(len(labels), np.float32)
    dev = source == 1
    for c in range(len(CLASSES)):
        sel = dev & (labels == c)
        if sel.any():
            w[sel] = dev_weight * dev.sum() / (len(CLASSES) * sel.sum())
    return w


def _batches(x: np.ndarray, y: np.ndarray, w: np.ndarray, order: np.ndarray, batch: int):
    for i in range(0, len(order), batch):
        idx = np.sort(order[i : i + batch])
        yield x[idx].astype(np.float32), y[idx], w[idx]


def default_data() -> str:
    return str(settings.facemask12k_dir())
