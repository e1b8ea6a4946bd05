"""Large faces a photo detector cannot see, measured on validation data only.

On the dev photos the detectors already find 97 % of the val photos' faces of 32 px and more, so
those 177 faces can no longer tell a better detector for large faces from a worse one, while the
dev holdout still loses 8 % of them (mostly masked and turned faces). This probe supplies more:
each face of the extra faces' **val** fold (real crops of other web photos: masks, masks below the
nose, turned, dim and bare faces) is pasted once, at 40, 64 or 100 px tall, into one of the face
head's val photos where it covers no labelled face, blended as `train.facehead.pasted` blends its
training faces (a softened ellipse, no square edge). A face counts as found when a detection
overlaps it at IoU ≥ 0.4. Caveat: the face head learnt from faces pasted this way (from the
train fold), so the probe flatters it a little; compare detectors with that in mind.

    python -m maskdash scenes --pasted --detector yunet-facehead [--json F]"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from maskdash.inference.multiscale import _iou as iou  # the one box IoU the detectors merge with

PROBE_FACE_PX = (40, 64, 100)  # pasted face heights, photo pixels
MIN_IOU = 0.4


class Pasted(NamedTuple):
    rgb: np.ndarray  # the val photo with the face pasted in
    box: tuple[float, float, float, float]  # the pasted face's box, photo pixels
    face: object  # its ExtraFace (label, tags, fold)
    face_px: int  # its height as asked for
    photo: object  # the Scene it was pasted into


def probe_photos(scenes_dir: Path | str, extra_dir: Path | str, seed: int = 0, limit: int | None = None):
    """A `Pasted` for every usable val-fold face (its first `limit` only): fixed by `seed`, so that
    every detector sees the same photos."""
    from maskdash.data.datasets import list_extra_faces
    from maskdash.evaluation.scenes import fold_scenes
    from maskdash.imaging import load_rgb
    from maskdash.train.facehead import donors, paste_one, sub_fold

    photos = [s for s in fold_scenes(scenes_dir, "train") if sub_fold(s.image_path) == "val"]
    if not photos:
        raise FileNotFoundError(f"no val photos of the face head in {scenes_dir}")
    meta = {str(f.path): f for f in list_extra_faces(extra_dir, ("val",))}
    rng = np.random.default_rng(seed)
    cache: dict[int, np.ndarray] = {}
    for k, d in enumerate(donors(extra_dir, ("val",))[:limit]):
        j = k % len(photos)
        rgb = cache.setdefault(j, load_rgb(photos[j].image_path))
        h, w = rgb.shape[:2]
        face_px = int(rng.choice(PROBE_FACE_PX))
        side = int(round(face_px / (d.box[3] - d.box[1])))
        if side >= min(w, h):
            continue
        out = rgb.astype(np.float32)
        box = paste_one(out, d, side, [(b.x1, b.y1, b.x2, b.y2) for b in photos[j].boxes], rng, (w, h))
        if box is not None:
            yield Pasted(np.clip(out, 0, 255).astype(np.uint8), box, meta[str(d.path)], face_px, photos[j])


def _share(found: list[bool]) -> dict:
    return {"n": len(found), "found": int(sum(found)), "found_share": float(np.mean(found)) if found else None}


def run_probe(detector, scenes_dir: Path | str, extra_dir: Path | str, seed: int = 0, limit: int | None = None,
              progress: bool = True) -> dict:
    """The share of pasted faces found, overall, by class, by height and by the extra faces' tags."""
    from tqdm import tqdm

    rows = []
    for p in tqdm(probe_photos(scenes_dir, extra_dir, seed, limit), disable=not progress, desc="pasted faces"):
        found = any(iou(p.box, f.box) >= MIN_IOU for f in detector.detect(p.rgb))
        rows.append((p.face.label, p.face_px, p.face.tags, found))
    tags = sorted({t for r in rows for t in r[2]})
    return {
        "detector": detector.name, "min_iou": MIN_IOU, "seed": seed,
        "all": _share([r[3] for r in rows]),
        "per_class": {c: _share([r[3] for r in rows if r[0] == c]) for c in sorted({r[0] for r in rows})},
        "by_height": {str(px): _share([r[3] for r in rows if r[1] == px]) for px in PROBE_FACE_PX},
        "by_tag": {t: _share([r[3] for r in rows if t in r[2]]) for t in tags},
    }


def format_probe(doc: dict) -> str:
    def pct(s: dict) -> str:
        return "–" if s["found_share"] is None else f"{100 * s['found_share']:.1f} % of {s['n']}"

    lines = [f"{doc['detector']}: pasted val-fold faces found (IoU ≥ {doc['min_iou']}): {pct(doc['all'])}",
             "  by class: " + ", ".join(f"{c} {pct(s)}" for c, s in doc["per_class"].items()),
             "  by height: " + ", ".join(f"{px} px {pct(s)}" for px, s in doc["by_height"].items())]
    return "\n".join(lines)
