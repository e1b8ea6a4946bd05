"""Reading the data sets: classification folders (Face Mask 12K layout) and Pascal VOC scenes.

Nothing here stops on a bad file: unreadable images are skipped and reported with the reason."""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from maskdash.labels import CLASSES, WITH_MASK, WITHOUT_MASK, normalize_class
from maskdash.imaging import IMAGE_EXTENSIONS, ImageError, crop_face, load_rgb, to_input




@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # index into CLASSES
    split: str


@dataclass
class Skipped:
    path: str
    reason: str


def _find_dir(root: Path, name: str) -> Path | None:
    """A child folder matched case-insensitively."""
    if not root.is_dir():
        return None
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def list_split(root: Path | str, split: str) -> list[Sample]:
    """`<root>/<Split>/<Class>/*` → samples sorted by path. Unknown class folders are ignored."""
    split_dir = _find_dir(Path(root), split)
    if split_dir is None:
        raise FileNotFoundError(f"no split folder '{split}' in {root}")
    samples: list[Sample] = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        cls = normalize_class(class_dir.name)
        if cls not in CLASSES:
            continue
        if not os.access(class_dir, os.R_OK | os.X_OK):  # rglob would skip it silently: a class lost
            raise PermissionError(f"cannot read the class folder {class_dir} (permission denied)")
        for path in sorted(class_dir.rglob("*")):
            if is_image_file(path):
                samples.append(Sample(path, CLASSES.index(cls), split_dir.name))
    return samples


def list_splits(root: Path | str) -> list[str]:
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


@dataclass
class LoadedImages:
    images: np.ndarray  # N×S×S×3 uint8
    labels: np.ndarray  # N int
    paths: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    native_widths: np.ndarray | None = None  # width of each file before resizing


def load_samples(
    samples: list[Sample], size: int = 224, workers: int = 4, progress: bool = True
) -> LoadedImages:
    """Decode and resize every sample; bad files are skipped and listed."""
    from tqdm import tqdm

    def one(sample: Sample):
        try:
            rgb = load_rgb(sample.path)
        except ImageError as exc:
            return sample, None, str(exc), 0
        return sample, to_input(rgb, size), None, rgb.shape[1]

    images, labels, paths, widths, skipped = [], [], [], [], []
    with ThreadPoolExecutor(workers) as pool:
        it = pool.map(one, samples)
        for sample, img, err, width in tqdm(
            it, total=len(samples), desc="loading images", disable=not progress, unit="img"
        ):
            if img is None:
                skipped.append(Skipped(str(sample.path), err or "unreadable"))
                continue
            images.append(img)
            labels.append(sample.label)
            paths.append(str(sample.path))
            widths.append(width)
    arr = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return LoadedImages(arr, np.asarray(labels, np.int64), paths, skipped, np.asarray(widths))


# ---------------------------------------------------------------- Pascal VOC scenes


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str  # with_mask / without_mask / mask_weared_incorrect

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass
class Scene:
    image_path: Path
    boxes: list[Box]


def parse_voc(xml_path: Path) -> list[Box]:
    root = ET.parse(xml_path).getroot()
    boxes = []
    for obj in root.iter("object"):
        label = normalize_class(obj.findtext("name", ""))
        bb = obj.find("bndbox")
        if label is None or bb is None:
            continue
        coords = [float(bb.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")]
        if any(np.isnan(coords)) or coords[2] <= coords[0] or coords[3] <= coords[1]:
            continue
        boxes.append(Box(*coords, label=label))
    return boxes


def list_scenes(root: Path | str) -> tuple[list[Scene], list[Skipped]]:
    """`images/` + `annotations/*.xml`, matched by file stem."""
    root = Path(root)
    img_dir, ann_dir = _find_dir(root, "images"), _find_dir(root, "annotations")
    if img_dir is None or ann_dir is None:
        raise FileNotFoundError(f"{root} needs images/ and annotations/ folders")
    images = {p.stem: p for p in img_dir.iterdir() if is_image_file(p)}
    scenes, skipped = [], []
    for xml_path in sorted(ann_dir.glob("*.xml")):
        img = images.get(xml_path.stem)
        if img is None:
            skipped.append(Skipped(str(xml_path), "no image with this name"))
            continue
        try:
            boxes = parse_voc(xml_path)
        except ET.ParseError as exc:
            skipped.append(Skipped(str(xml_path), f"bad annotation XML ({exc})"))
            continue
        except ValueError as exc:  # e.g. a coordinate that is not a number: the photo's labels are incomplete
            skipped.append(Skipped(str(xml_path), f"bad annotation ({exc})"))
            continue
        except OSError as exc:
            skipped.append(Skipped(str(xml_path), f"cannot read the annotation ({exc.strerror or exc})"))
            continue
        scenes.append(Scene(img, boxes))
    return scenes, skipped


def scene_fold(image_path: Path | str, holdout_share: float = 0.4) -> str:
    """Deterministic split of the dev scenes by image: 'train' or 'holdout'. The robust recipe
    may learn from 'train' faces only; dev-scene figures are quoted on 'holdout'."""
    digest = hashlib.sha256(Path(image_path).name.encode()).digest()
    return "holdout" if digest[0] / 256 < holdout_share else "train"


@dataclass
class SceneFaces:
    images: np.ndarray  # N×S×S×3 uint8 crops
    labels: list[str]
    image_paths: list[str]
    boxes: list[Box]
    skipped: list[Skipped]


def load_scene_faces(
    scenes: list[Scene], size: int = 224, margin: float = 0.2, min_height: float = 0.0,
    progress: bool = True,
) -> SceneFaces:
    """Every annotated face cut out with the same crop as the live pipeline."""
    from tqdm import tqdm

    crops, labels, paths, boxes, skipped = [], [], [], [], []
    for scene in tqdm(scenes, desc="cutting scene faces", disable=not progress, unit="img"):
        try:
            rgb = load_rgb(scene.image_path)
        except ImageError as exc:
            skipped.append(Skipped(str(scene.image_path), str(exc)))
            continue
        for box in scene.boxes:
            if box.height < min_height:
                continue
            crops.append(crop_face(rgb, (box.x1, box.y1, box.x2, box.y2), margin, size))
            labels.append(box.label)
            paths.append(str(scene.image_path))
            boxes.append(box)
    arr = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return SceneFaces(arr, labels, paths, boxes, skipped)


# ---------------------------------------------------------------- extra faces (three classes)

EXTRA_FOLDS = ("train", "val", "holdout")


@dataclass(frozen=True)
class ExtraFace:
    path: Path
    label: str  # a CLASSES3 name
    source: str  # the public set it was cut from
    tags: tuple[str, ...]
    fold: str
    # the face box's width and height in the source photo (the crop is its longer side × 1.2,
    # centred on it); None when the index gives no usable box
    box_wh: tuple[float, float] | None = None

    @property
    def mouth_covered_unmasked(self) -> bool:
        """An unmasked face with a hand or an object over the mouth — not a scarf pulled up, which
        the product accepts as a face covering. Every "called with_mask" among these is a mistake;
        `report` and the hands study count this same group."""
        tags = set(self.tags)
        return (self.label == "without_mask" and bool(tags & {"hand_over_mouth", "object_over_mouth"})
                and "scarf_or_face_cover" not in tags)


def extra_fold(source: str, orig_path: str) -> str:
    """Deterministic split of the extra faces by source photo (every face cut from one photo
    lands in one fold): 60 % train, 20 % val (checkpoint choice), 20 % holdout (reported once)."""
    u = hashlib.sha256(f"{source}/{orig_path}".encode()).digest()[0] / 256
    return "holdout" if u < 0.2 else "val" if u < 0.4 else "train"


def _box_wh(text: str | None) -> tuple[float, float] | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in (text or "").split())
    except ValueError:
        return None
    return (x2 - x1, y2 - y1) if x2 > x1 and y2 > y1 else None


def list_extra_faces(root: Path | str, folds: tuple[str, ...] = EXTRA_FOLDS) -> list[ExtraFace]:
    """The crops listed in `root/index.csv` (path, class, source, orig_path, tags) in `folds`.
    Rows naming a missing file are kept: loading reports them as skipped."""
    import csv

    root = Path(root)
    index = root / "index.csv"
    if not index.is_file():
        raise FileNotFoundError(f"{root} has no index.csv (the extra-faces listing)")
    # One face per file: the index lists a few crops twice (a face tagged on a first pass, e.g.
    # a hand over the mouth, and again when it was reviewed as a hard negative). Counted twice, it
    # weighed double, and matched back by path it lost its first tags; so its rows' tags are merged.
    # A file listed under two classes has no label to trust and is left out.
    by_path: dict[str, ExtraFace] = {}
    conflicting: set[str] = set()
    with open(index, newline="") as f:
        for row in csv.DictReader(f):
            label = normalize_class(row.get("class", ""))
            if label is None or not row.get("path"):
                continue
            fold = extra_fold(row.get("source", ""), row.get("orig_path") or row["path"])
            if fold not in folds:
                continue
            tags = tuple(t for t in (row.get("tags") or "").split(";") if t)
            face = by_path.get(row["path"])
            if face is None:
                by_path[row["path"]] = ExtraFace(root / row["path"], label, row.get("source", ""), tags, fold,
                                                 _box_wh(row.get("box")))
            elif face.label != label:
                conflicting.add(row["path"])
            else:
                by_path[row["path"]] = replace(face, tags=face.tags + tuple(t for t in tags if t not in face.tags))
    return [face for key, face in by_path.items() if key not in conflicting]


# Clear, whole, frontal Face Mask 12K Test faces (picked by eye), as a webcam sees people. Many of
# the set's masked photos are cut off at the forehead, pixelated or drawings, which no detector
# finds reliably; on those the benchmark would time a pipeline that finds nothing.
CLEAR_FACES = {
    WITH_MASK: ["769.jpg", "608.jpg", "1767.jpg", "Augmented_141_8092740.jpg", "1565.jpg",
                  "Augmented_384_8742839.jpg", "Augmented_411_871195.jpg", "Augmented_96_996275.jpg"],
    WITHOUT_MASK: ["1.jpg", "1148.jpg", "1177.jpg", "1217.jpg", "1377.jpg", "1413.jpg", "152.jpg", "1570.jpg"],
}
