"""The two ways faces reach the network (`config.FEEDS`). Both give the loop the same things: the
network to train, one epoch of (inputs, one-hot labels, sample weights) batches in an order drawn
from the loop's random generator, the validation sets, and what the data held.

`cached`: the frozen bottom (everything up to `cut`) runs once per augmented view (through TFLite
when there are many) and its output is cached in `run/cache/`, with a manifest written last that
names the arguments it depends on; the network trained is the top. With `distill`, each clean view
gets a dim-webcam twin; the clean views learn the init model's probabilities, the twins those too
or their own labels (`twin_targets`). `online`: the training faces sit in one shared-memory block;
spawned worker processes draw fresh views of each batch."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import tempfile
import time
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from maskdash import settings
from maskdash.data import augment, camera, datasets
from maskdash.labels import CLASSES, INCORRECT, classes_of
from maskdash.train.config import TrainArgs
from maskdash.train.run import READ_ERRORS, Run, note, save_npy, write_json


def sample_weights(labels: np.ndarray, source: np.ndarray, dev_weight: float) -> np.ndarray:
    """1 for data-set images (source 0); real faces from another source s (1: dev scenes, 2: extra
    faces) of class c get dev_weight · n_s / (k · n_s_c), k the classes present in s, so every
    class of real faces counts equally however skewed the source is — up to MAX_WEIGHT × dev_weight
    per face."""
    w = np.ones(len(labels), np.float32)
    for s in np.unique(source):
        if s == 0:
            continue
        real = source == s
        present = np.unique(labels[real])
        for c in present:
            sel = real & (labels == c)
            w[sel] = min(dev_weight * real.sum() / (len(present) * sel.sum()), MAX_WEIGHT * dev_weight)
    return w


# A rare class of a real source (a few dozen masks below the nose among a thousand dev faces)
# would otherwise weigh ×25 per face and pull the network towards a handful of crops.
MAX_WEIGHT = 2.0


def augment_one(name: str, img: np.ndarray, rng: np.random.Generator, label: int,
                backgrounds: list | None = None, cover_p: float | None = None,
                distract_p: float | None = None, low_light_p: float | None = None,
                low_light_max: float | None = None, grey_p: float | None = None) -> np.ndarray:
    """One augmented view by the recipe's augmentation (`config.AUGMENTS`); `grey_p`: the share of
    views turned black and white last (drawn only when set, so older runs' views are unchanged)."""
    if name == "seed":
        return augment.seed_augment(img, rng)
    view = _augment_view(name, img, rng, label, backgrounds, cover_p, distract_p, low_light_p, low_light_max)
    return augment.grey(view) if grey_p and rng.random() < grey_p else view


def _augment_view(name: str, img: np.ndarray, rng: np.random.Generator, label: int, backgrounds: list | None,
                  cover_p: float | None, distract_p: float | None, low_light_p: float | None,
                  low_light_max: float | None) -> np.ndarray:
    # runs from before these options used the fixed defaults
    dim = dict(low_light_p=augment.LOW_LIGHT_P if low_light_p is None else low_light_p,
               low_light_max=camera.BRIGHTEST if low_light_max is None else low_light_max)
    if name == "robust":
        return augment.robust_augment(img, rng, label, **dim)
    return augment.online_augment(img, rng, label, backgrounds, cover_p=cover_p, distract_p=distract_p, **dim)


def one_hot(labels: np.ndarray, classes: int = len(CLASSES)) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[np.asarray(labels, np.int64)]


def make_feed(args: TrainArgs, run: Run):
    return CachedFeed(args, run) if args.feed == "cached" else OnlineFeed(args, run)


# ---- cached ---------------------------------------------------------------------------------
CACHE_FILES = ("train_x", "train_y", "train_src", "val_x", "val_y", "sval_x", "sval_y")
TFLITE_FROM = 600  # views to compute from which TFLite (~4× faster per face than Keras on a CPU) pays


class CachedFeed:
    def __init__(self, args: TrainArgs, run: Run):
        self.args, self.run = args, run
        self.contents: dict = {}
        self.feature_seconds: float | None = None  # when this call computed them

    def prepare(self, model):
        from maskdash.model.network import get_base, split_at

        bottom, top = split_at(model, self.args.cut or get_base(model).layers[-1].name)
        arrays = self._read_cache() or self._compute(bottom, top)
        self.x, self.y = arrays["train_x"], arrays["train_y"]
        self.x_val, self.y_val = arrays["val_x"], arrays["val_y"]
        self.x_sv, self.y_sv = arrays["sval_x"], np.asarray(arrays["sval_y"], np.int64)
        # distilled: soft targets, the init model's answer on each clean view (and its twin's,
        # unless the twins learn their labels); the clean views come first, then their twins
        self.y_1h = one_hot(self.y, self.args.classes)
        if self.args.distill:
            half = len(self.y) // 2
            self.y_1h[:half] = arrays["train_t"][:half]
            if self.args.twin_targets == "teacher":
                self.y_1h[half:] = arrays["train_t"][half:]
        self.weights = sample_weights(np.asarray(self.y), arrays["train_src"], self.args.dev_weight)
        return top

    def _key(self) -> dict:
        """The arguments the cached features depend on."""
        a = self.args
        return {k: getattr(a, k) for k in ("data", "recipe", "cut", "augment", "views", "limit", "seed",
                                           "dev_scenes", "train_split", "val_split", "base_weights", "init",
                                           "classes", "extra_faces", "synth_incorrect")} | (
            {k: getattr(a, k) for k in ("distill", "low_light_p", "low_light_max", "cover_p")} if a.distill else {}) | (
            {"grey_p": a.grey_p} if a.grey_p else {})  # keys of caches from before it stay valid

    def _files(self) -> tuple[str, ...]:
        return CACHE_FILES + (("train_t",) if self.args.distill else ())

    def _read_cache(self) -> dict | None:
        cache, manifest_path = self.run.cache, self.run.cache / "manifest.json"
        if not manifest_path.exists():  # written last: without it the cache is incomplete
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            shapes, key = manifest["shapes"], manifest["key"]
        except READ_ERRORS as exc:
            note(f"{settings.display_path(manifest_path)} is damaged ({type(exc).__name__}: {exc}); "
                 "recomputing the features")
            return None
        if key != json.loads(json.dumps(self._key())):
            note("the cached features were computed with other arguments; recomputing them")
            return None
        arrays = {}
        for name in self._files():
            path = cache / f"{name}.npy"
            try:
                arrays[name] = np.load(path, mmap_mode="r" if name == "train_x" else None, allow_pickle=False)
                if list(arrays[name].shape) != shapes[name]:
                    raise ValueError(f"shape {list(arrays[name].shape)}, expected {shapes[name]}")
            except READ_ERRORS as exc:
                note(f"{settings.display_path(path)} is damaged ({type(exc).__name__}: {exc}); "
                     "recomputing the features")
                return None
        self.contents = manifest.get("contents", {})
        print(f"using cached features from {settings.display_path(cache)}")
        return arrays

    def _compute(self, bottom, top) -> dict:
        from tqdm import tqdm

        from maskdash.model.runtime import TFLiteRunner, to_tflite

        a, t0 = self.args, time.time()
        classes = classes_of(a.classes)
        self.run.cache.mkdir(exist_ok=True)
        (self.run.cache / "manifest.json").unlink(missing_ok=True)  # incomplete until rewritten
        tr = datasets.load_samples(_limit(datasets.list_split(a.data, a.train_split), a.limit))
        va = datasets.load_samples(_limit(datasets.list_split(a.data, a.val_split), a.limit))
        skipped = tr.skipped + va.skipped
        images, labels = tr.images, tr.labels
        source = np.zeros(len(labels), np.uint8)  # 0: the image data set, 1: a dev-scene face
        backgrounds = None
        if a.recipe == "robust" and a.dev_scenes:
            scenes, bad = datasets.list_scenes(a.dev_scenes)
            scenes = [s for s in scenes if datasets.scene_fold(s.image_path) == "train"]
            if a.augment == "online":  # real patches to draw over mouths, as the pack carries them
                from maskdash.data.pack import background_patches

                backgrounds = [_small(p) for p in background_patches(scenes, 800, np.random.default_rng(a.seed))]
            faces = datasets.load_scene_faces(scenes)
            skipped += bad + faces.skipped
            keep = [i for i, lab in enumerate(faces.labels) if lab in classes]
            if a.limit:
                keep = keep[: a.limit]
            images = np.concatenate([images, faces.images[keep]])
            labels = np.concatenate([labels, np.array([classes.index(faces.labels[i]) for i in keep], labels.dtype)])
            source = np.concatenate([source, np.ones(len(keep), np.uint8)])
            print(f"+ {len(keep)} dev-scene faces (train fold)")
        if a.synth_incorrect and a.classes == 3:
            from maskdash.data.synth import build_incorrect

            made, _ = build_incorrect(a.data, a.synth_incorrect, a.seed)
            images = np.concatenate([images, made])
            labels = np.concatenate([labels, np.full(len(made), classes.index(INCORRECT), labels.dtype)])
            source = np.concatenate([source, np.zeros(len(made), np.uint8)])  # weighed as data-set images
            print(f"+ {len(made)} Train faces given a mask below the nose")
        sval = datasets.LoadedImages(np.zeros((0, *images.shape[1:]), np.uint8), np.zeros(0, np.int64), [], [],
                                     np.zeros(0))
        if a.recipe == "robust" and a.extra_faces:
            extra = {fold: _limit([datasets.Sample(f.path, classes.index(f.label), fold)
                                   for f in datasets.list_extra_faces(a.extra_faces, (fold,)) if f.label in classes],
                                  a.limit, len(classes)) for fold in ("train", "val")}
            ex = datasets.load_samples(extra["train"])
            sval = datasets.load_samples(extra["val"])
            skipped += ex.skipped + sval.skipped
            images = np.concatenate([images, ex.images])
            labels = np.concatenate([labels, ex.labels.astype(labels.dtype)])
            source = np.concatenate([source, np.full(len(ex.labels), 2, np.uint8)])
            print(f"+ {len(ex.labels)} extra faces (train fold); {len(sval.labels)} in the val fold")
        self.run.write_skipped((s.path, s.reason) for s in skipped)
        if len(images) == 0 or len(va.images) == 0:
            raise SystemExit("no readable training or validation images")
        if len(images) * a.views + len(va.images) >= TFLITE_FROM:
            runner = TFLiteRunner(to_tflite(bottom, "none"), batch=32)
        else:  # converting costs ~30 s on 2 cores, more than Keras takes for a few hundred faces
            def runner(x: np.ndarray) -> np.ndarray:
                return np.asarray(bottom.predict_on_batch(x))

        def extract(x: np.ndarray, desc: str, batch: int = 32) -> np.ndarray:
            return np.concatenate([runner(x[i : i + batch].astype(np.float32)).astype(np.float16)
                                   for i in tqdm(range(0, len(x), batch), desc=desc, unit="batch")])

        # a stream of its own, so that the epochs' shuffles do not depend on whether the
        # features were computed or read back
        rng = np.random.default_rng([a.seed, 1])
        views, twins = [], []
        aug = np.empty_like(images)
        for v in range(a.views):
            for i, (img, lab) in enumerate(zip(images, labels)):
                aug[i] = augment_one(a.augment, img, rng, int(lab), backgrounds, a.cover_p, a.distract_p,
                                     0.0 if a.distill else a.low_light_p, a.low_light_max, a.grey_p)
            views.append(extract(aug, f"features view {v + 1}/{a.views}"))
            if a.distill:
                for i in range(len(aug)):
                    aug[i] = camera.low_light(aug[i], rng, a.low_light_max or camera.BRIGHTEST)
                twins.append(extract(aug, f"features view {v + 1}/{a.views}, dim twin"))
        copies = a.views * (2 if a.distill else 1)
        arrays = {"train_x": np.concatenate(views + twins), "train_y": np.tile(labels, copies),
                  "train_src": np.tile(source, copies), "val_x": extract(va.images, "features validation"),
                  "val_y": va.labels, "sval_x": extract(sval.images, "features extra val") if len(sval.labels)
                  else np.zeros((0, *views[0].shape[1:]), np.float16), "sval_y": sval.labels}
        if a.distill:  # the teacher is the top as loaded, before any training
            clean = np.concatenate(views)
            t = np.concatenate([np.asarray(top.predict_on_batch(clean[i : i + 256].astype(np.float32)), np.float32)
                                for i in tqdm(range(0, len(clean), 256), desc="teacher's answers", unit="batch")])
            arrays["train_t"] = np.tile(t, (2, 1))
        for name, arr in arrays.items():
            save_npy(self.run.cache / f"{name}.npy", arr)
        self.feature_seconds = time.time() - t0
        self.contents = {"train": len(labels), "scene_faces": int((source == 1).sum()),
                         "synth_incorrect": int(a.synth_incorrect or 0),
                         "extra_faces": int((source == 2).sum()), "val": len(va.labels),
                         "extra_val": len(sval.labels), "views": a.views, **({"dim_twins": True} if a.distill else {})}
        write_json(self.run.cache / "manifest.json", {  # last: its presence marks a complete cache
            "key": self._key(), "shapes": {k: list(v.shape) for k, v in arrays.items()},
            "contents": self.contents, "seconds": round(self.feature_seconds)})
        return arrays

    def epoch(self, rng: np.random.Generator, batch_size: int):
        order = rng.permutation(len(self.y))
        for i in range(0, len(order), batch_size):
            idx = np.sort(order[i : i + batch_size])  # sorted: fewer page faults in the memory-mapped cache
            yield self.x[idx].astype(np.float32), self.y_1h[idx], self.weights[idx]

    def validation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_val, y_val, x_second_val, y_second_val): the second is the extra faces' val fold
        (empty without them)."""
        return self.x_val, np.asarray(self.y_val), self.x_sv, self.y_sv

    def close(self) -> None:
        pass


def _small(patch: np.ndarray, side: int = 96) -> np.ndarray:
    import cv2

    scale = side / max(patch.shape[:2])
    return patch if scale >= 1 else cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _limit(samples: list[datasets.Sample], limit: int | None, classes: int = len(CLASSES)) -> list[datasets.Sample]:
    if not limit:
        return samples
    out: list[datasets.Sample] = []
    for label in range(classes):
        out += [s for s in samples if s.label == label][:limit]
    return out


# ---- online ---------------------------------------------------------------------------------
# Worker state. The decoded faces live in one shared-memory block that every worker maps, so
# they are neither copied nor pickled per batch. Workers are spawned, not forked: a process that
# has already started TensorFlow's or OpenCV's threads (a test session, a notebook) can deadlock
# its forked children.
_W: dict = {}


def _worker_init(shm_name: str, shape: tuple, labels: np.ndarray, backgrounds: list, augment_name: str,
                 cover_p: float | None, distract_p: float | None, low_light_p: float | None,
                 low_light_max: float | None, grey_p: float | None = None) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already
    shm = shared_memory.SharedMemory(name=shm_name)
    _W.update(shm=shm, images=np.ndarray(shape, np.uint8, buffer=shm.buf), labels=labels,
              backgrounds=backgrounds, augment=augment_name, cover_p=cover_p, distract_p=distract_p,
              low_light_p=low_light_p, low_light_max=low_light_max, grey_p=grey_p)


def _augment_batch(task: tuple[np.ndarray, int]) -> np.ndarray:
    idx, seed = task
    rng = np.random.default_rng(seed)
    imgs, labels = _W["images"], _W["labels"]
    out = np.empty((len(idx), *imgs.shape[1:]), np.uint8)
    for k, i in enumerate(idx):
        out[k] = augment_one(_W["augment"], imgs[i], rng, int(labels[i]), _W["backgrounds"],
                             _W["cover_p"], _W["distract_p"], _W["low_light_p"],
                             _W["low_light_max"], _W["grey_p"])
    return out


class OnlineFeed:
    def __init__(self, args: TrainArgs, run: Run):
        self.args, self.run = args, run
        self.contents: dict = {}
        self.feature_seconds = None
        self.shm = self.pool = None

    def _load_pack(self):
        from maskdash.data.pack import build_pack, load_pack

        a = self.args
        if not str(a.data).endswith(".npz"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "pack.npz"
                build_pack(a.data, a.dev_scenes, path, limit=a.limit, seed=a.seed, classes=a.classes,
                           extra_faces=a.extra_faces, synth_incorrect=a.synth_incorrect or 0)
                return load_pack(path)
        try:
            pack = load_pack(a.data)
        except READ_ERRORS as exc:
            raise ValueError(f"cannot read the pack {settings.display_path(a.data)} "
                             f"({type(exc).__name__}: {exc})") from exc
        if pack.classes != a.classes:
            raise ValueError(f"the pack {settings.display_path(a.data)} holds {pack.classes} classes but the run "
                             f"asks for {a.classes} (--classes); pack again with --classes {a.classes}")
        return pack

    def prepare(self, model):
        a = self.args
        pack = self._load_pack()
        self.run.write_skipped(pack.skipped)  # unreadable files, found when packing
        x_tr, y_tr, src_tr = pack.select("train")
        self.x_va, self.y_va, _ = pack.select("val")
        # The second validation set of the checkpoint rule: every real face kept from training —
        # the dev scenes' scene_val faces and the extra faces' val fold (the cached feed's).
        x_sv, y_sv, _ = pack.select("scene_val")
        x_ev, y_ev, _ = pack.select("extra_val")
        self.x_sv, self.y_sv = np.concatenate([x_sv, x_ev]), np.concatenate([y_sv, y_ev])
        if a.limit:
            keep = np.concatenate([np.flatnonzero(y_tr == c)[: a.limit] for c in range(pack.classes)])
            x_tr, y_tr, src_tr = x_tr[keep], y_tr[keep], src_tr[keep]
        if len(x_tr) == 0 or len(self.x_va) == 0:
            raise SystemExit("no training or validation faces")
        self.contents = {"train": len(x_tr), "scene_faces": int((src_tr == 1).sum()),
                         "extra_faces": int((src_tr == 2).sum()), "val": len(self.x_va),
                         "scene_val": len(y_sv), "extra_val": len(y_ev), "backgrounds": len(pack.backgrounds)}
        print(", ".join(f"{k} {v}" for k, v in self.contents.items()))
        self.y, self.y_1h = y_tr, one_hot(y_tr, a.classes)
        self.weights = sample_weights(y_tr, src_tr, a.dev_weight)
        backgrounds, shape = pack.backgrounds, x_tr.shape
        self.shm = shared_memory.SharedMemory(create=True, size=max(1, x_tr.nbytes))
        np.ndarray(shape, np.uint8, buffer=self.shm.buf)[:] = x_tr
        del pack, x_tr  # the shared block holds the training faces now
        workers = a.workers or max(1, (os.cpu_count() or 2) - 1)
        self.pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(
            self.shm.name, shape, y_tr, backgrounds, a.augment, a.cover_p, a.distract_p, a.low_light_p,
            a.low_light_max, a.grey_p))
        return model

    def epoch(self, rng: np.random.Generator, batch_size: int):
        order = rng.permutation(len(self.y))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        seeds = rng.integers(0, 2**31, len(batches))
        for idx, xb in zip(batches, self.pool.imap(_augment_batch, zip(batches, seeds))):
            yield xb, self.y_1h[idx], self.weights[idx]

    def validation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.x_va, self.y_va, self.x_sv, self.y_sv

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        if self.shm is not None:
            self.shm.close()
            self.shm.unlink()
