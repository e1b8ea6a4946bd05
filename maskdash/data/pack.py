"""A training set packed into one small file, for training on a machine that cannot see the data.

The accelerator machine we train on receives at most ~64 MiB, so the training faces travel as one
`.npz`: every face re-encoded as WebP at no more than `max_side` px (the median Face Mask 12K face
is 113 px wide, and the robust recipe shrinks faces far below that anyway), with its label, its
source (0 data set, 1 dev-scene face, 2 extra face) and its fold. Folds:

- `train`: Face Mask 12K `Train`, the dev scenes' train-fold faces that are not in scene_val, and
  (optional) the extra faces' train fold and generated masks below the nose;
- `val`: Face Mask 12K `Validation`;
- `scene_val`: the faces of ~20 % of the dev scenes' *train-fold* images (chosen by a hash of
  the file name), so that checkpoints are chosen on real scene faces without ever touching
  the dev holdout or Test;
- `extra_val`: the extra faces' val fold (`datasets.extra_fold`), which the cached feed's
  checkpoint rule reads too.

A pack holds two classes (masks worn below the nose are left out, as the binary recipe leaves them)
or three (`classes=3`: they are learnt as `mask_incorrect`, from the dev scenes, the extra faces and
`synth_incorrect` generated faces), so both feeds can train the same three-class recipe.

It also carries `backgrounds`: patches of the train-fold scene images that overlap no face box —
real textures (clothes, walls, signs, objects) for the occluder augmentation. Nothing from the
Test split, the dev holdout or the extra faces' holdout enters a pack."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from maskdash.data import datasets

from maskdash.labels import INCORRECT, classes_of, normalize_class
from maskdash.imaging import INPUT_SIZE, ImageError, crop_face, load_rgb, resize

FOLDS = ("train", "val", "scene_val", "extra_val")  # appended only: older packs keep their indices
SCENE_VAL_SHARE = 0.2


def scene_val_fold(image_path: Path | str, share: float = SCENE_VAL_SHARE) -> bool:
    """Within the dev scenes' train fold: is this image's face set kept for validation?
    Uses a second byte of the same name hash as `datasets.scene_fold`, so the two are independent."""
    digest = hashlib.sha256(Path(image_path).name.encode()).digest()
    return digest[1] / 256 < share


def _encode(rgb: np.ndarray, max_side: int, quality: int) -> bytes:
    h, w = rgb.shape[:2]
    side = min(max(h, w), max_side)
    small = resize(rgb, side, side) if (h, w) != (side, side) else rgb
    ok, enc = cv2.imencode(".webp", np.ascontiguousarray(small[..., ::-1]), [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise ImageError("could not encode")
    return enc.tobytes()


def _decode(buf: np.ndarray, size: int | None) -> np.ndarray:
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("corrupt pack entry")
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    return rgb if size is None else resize(rgb, size, size)


@dataclass
class Pack:
    images: np.ndarray  # N×S×S×3 uint8
    labels: np.ndarray  # N, index into classes_of(classes)
    source: np.ndarray  # N, 0 data set / 1 dev-scene face / 2 extra face
    fold: np.ndarray  # N, index into FOLDS
    backgrounds: list[np.ndarray]  # real texture patches, various sizes
    skipped: list[tuple[str, str]] = field(default_factory=list)  # unreadable files: (path, reason)
    classes: int = 2

    def select(self, fold: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sel = self.fold == FOLDS.index(fold)
        return self.images[sel], self.labels[sel], self.source[sel]


def background_patches(scenes: list[datasets.Scene], count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random patches of scene images that overlap no annotated face."""
    patches: list[np.ndarray] = []
    order = rng.permutation(len(scenes))
    tries = 0
    while len(patches) < count and tries < count * 20 and len(order):
        scene = scenes[order[tries % len(order)]]
        tries += 1
        try:
            rgb = load_rgb(scene.image_path)
        except ImageError:
            continue
        h, w = rgb.shape[:2]
        for _ in range(3):
            side = int(rng.uniform(0.1, 0.4) * min(h, w))
            if side < 24:
                continue
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            if any(b.x1 < x + side and x < b.x2 and b.y1 < y + side and y < b.y2 for b in scene.boxes):
                continue
            patches.append(rgb[y : y + side, x : x + side])
            if len(patches) >= count:
                break
    return patches


def build_pack(
    data_root: str | Path, dev_scenes: str | Path | None, out: str | Path, max_side: int = 128,
    quality: int = 85, n_backgrounds: int = 800, seed: int = 0, limit: int | None = None,
    classes: int = 2, extra_faces: str | Path | None = None, synth_incorrect: int = 0,
) -> dict:
    """Write the pack; returns counts per fold and the file size."""
    from tqdm import tqdm

    if classes not in (2, 3):
        raise ValueError(f"a pack holds 2 or 3 classes, not {classes}")
    names = classes_of(classes)
    if synth_incorrect and classes != 3:
        raise ValueError("generated masks below the nose are mask_incorrect faces: they need three classes (--classes 3)")
    rng = np.random.default_rng(seed)
    blobs: list[bytes] = []
    labels, source, fold, skipped = [], [], [], []

    def add(rgb: np.ndarray, label: int, src: int, f: str) -> None:
        blobs.append(_encode(rgb, max_side, quality))
        labels.append(label)
        source.append(src)
        fold.append(FOLDS.index(f))

    for split, f in (("Train", "train"), ("Validation", "val")):
        samples = datasets.list_split(data_root, split)
        if limit:
            samples = [s for c in range(2) for s in [t for t in samples if t.label == c][:limit]]
        for s in tqdm(samples, desc=f"packing {split}", unit="img"):
            try:
                add(load_rgb(s.path), s.label, 0, f)
            except ImageError as exc:
                skipped.append((str(s.path), str(exc)))
    backgrounds: list[bytes] = []
    if dev_scenes:
        scenes, _ = datasets.list_scenes(dev_scenes)
        scenes = [s for s in scenes if datasets.scene_fold(s.image_path) == "train"]
        if limit:
            scenes = scenes[: max(2, limit // 4)]
        for scene in tqdm(scenes, desc="packing scene faces", unit="img"):
            try:
                rgb = load_rgb(scene.image_path)
            except ImageError as exc:
                skipped.append((str(scene.image_path), str(exc)))
                continue
            f = "scene_val" if scene_val_fold(scene.image_path) else "train"
            for box in scene.boxes:
                label = normalize_class(box.label)
                if label not in names:
                    continue  # a binary pack leaves masks worn incorrectly out: neither class
                # the crop at its native size (square + 20 % margin, as the live pipeline cuts)
                side = max(8, int(round(max(box.x2 - box.x1, box.y2 - box.y1) * 1.2)))
                face = crop_face(rgb, (box.x1, box.y1, box.x2, box.y2), 0.2, min(side, max_side))
                add(face, names.index(label), 1, f)
        for patch in background_patches(scenes, n_backgrounds, rng):
            backgrounds.append(_encode(patch, 96, quality))
    if extra_faces:
        # the holdout fold is never listed: it is only reported
        for fold_name, f in (("train", "train"), ("val", "extra_val")):
            faces = [e for e in datasets.list_extra_faces(extra_faces, (fold_name,)) if e.label in names]
            if limit:
                faces = [e for c in names for e in [t for t in faces if t.label == c][:limit]]
            for e in tqdm(faces, desc=f"packing extra faces ({fold_name})", unit="img"):
                try:
                    add(load_rgb(e.path), names.index(e.label), 2, f)
                except ImageError as exc:
                    skipped.append((str(e.path), str(exc)))
    if synth_incorrect:
        from maskdash.data.synth import build_incorrect

        made, _ = build_incorrect(data_root, synth_incorrect, seed)  # Train faces only
        for face in tqdm(made, desc="packing generated masks below the nose", unit="img"):
            add(face, names.index(INCORRECT), 0, "train")  # weighed as data-set images, as the cached feed does

    def flat(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.cumsum([0] + [len(b) for b in items]).astype(np.int64)
        return np.frombuffer(b"".join(items), np.uint8), offsets

    blob, offsets = flat(blobs)
    bg_blob, bg_offsets = flat(backgrounds)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out, blob=blob, offsets=offsets, labels=np.asarray(labels, np.uint8),
        source=np.asarray(source, np.uint8), fold=np.asarray(fold, np.uint8),
        bg_blob=bg_blob, bg_offsets=bg_offsets, max_side=np.int64(max_side),
        skipped=np.array(json.dumps(skipped)), classes=np.int64(classes),
    )
    folds, sources = np.asarray(fold), np.asarray(source)
    return {
        "path": str(out), "bytes": out.stat().st_size, "skipped": skipped,
        "backgrounds": len(backgrounds), "classes": classes,
        **{f: int((folds == i).sum()) for i, f in enumerate(FOLDS)},
        "scene_faces": int(np.sum(sources == 1)), "extra_faces": int(np.sum(sources == 2)),
        "synth_incorrect": int(synth_incorrect),
    }


def load_pack(path: str | Path, size: int = INPUT_SIZE) -> Pack:
    z = np.load(path)
    blob, offsets = z["blob"], z["offsets"]
    images = np.empty((len(offsets) - 1, size, size, 3), np.uint8)
    for i in range(len(offsets) - 1):
        images[i] = _decode(blob[offsets[i] : offsets[i + 1]], size)
    bg_blob, bg_offsets = z["bg_blob"], z["bg_offsets"]
    backgrounds = [_decode(bg_blob[bg_offsets[i] : bg_offsets[i + 1]], None) for i in range(len(bg_offsets) - 1)]
    skipped = [tuple(x) for x in json.loads(str(z["skipped"]))] if "skipped" in z.files else []
    classes = int(z["classes"]) if "classes" in z.files else 2  # packs from before three classes
    return Pack(images, z["labels"].astype(np.int64), z["source"], z["fold"], backgrounds, skipped, classes)
