"""The example faces of a failure-analysis run, kept as recipes rather than pictures.

The faces belong to the data sets, so a run records in examples.csv only what is needed to cut
each one again from the data folder: the image (relative to the data folder), the face's box in
it (dev scenes), BlazeFace's landmarks in the 224-px classifier input, for an occluder example the
object and the seed it was drawn with (a mask drawn below the nose: `mask_<variant>`), and for a
dim-webcam example the darkness level and the camera's seed. The dashboard cuts the thumbnails on
demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

THUMB_PX = 96
N_TURNED_EXAMPLES = 3  # per source (Test, dev scenes)
COLUMNS = ["study", "source", "path", "face", "truth", "p_mask", "detail",
           "image", "x1", "y1", "x2", "y2", "landmarks", "occluder", "draw_seed", "camera"]
# dots on the angle examples: eyes cyan, nose red, mouth orange, ears green (BlazeFace's order)
DOT_COLOURS = [(0, 255, 255), (0, 255, 255), (255, 64, 64), (255, 160, 0), (64, 255, 64), (64, 255, 64)]


def format_points(points: np.ndarray | None) -> str:
    """K×2 points → "x y x y …" (empty for None), for one CSV cell."""
    if points is None:
        return ""
    return " ".join(f"{v:.3f}" for v in np.asarray(points, np.float64).ravel())


def parse_points(text) -> np.ndarray | None:
    if _blank(text):
        return None
    values = np.array([float(v) for v in str(text).split()], np.float32)
    if len(values) < 6 or len(values) % 2:
        raise ValueError(f"landmarks need x y pairs, got {len(values)} numbers")
    return values.reshape(-1, 2)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def record(study: str, source: str, path: str, face: int, truth: str, p_mask: float, detail: str, image: str,
           box=None, landmarks: np.ndarray | None = None, occluder: str = "", draw_seed=(),
           camera: str = "") -> dict:
    """One examples.csv row. `image` is relative to the data folder; `box` (x1, y1, x2, y2) is the
    face in a scene photo (None: the whole file is the face); `landmarks` are in the 224-px
    classifier input; `draw_seed` is the seed sequence the occluder was drawn with, or the one
    seed of the dim-webcam rendering at level `camera` (a `data.camera.LEVELS` name)."""
    x1, y1, x2, y2 = box if box is not None else (None,) * 4
    return {"study": study, "source": source, "path": path, "face": int(face), "truth": truth,
            "p_mask": round(float(p_mask), 4), "detail": detail, "image": image,
            "x1": x1, "y1": y1, "x2": x2, "y2": y2, "landmarks": format_points(landmarks),
            "occluder": occluder, "draw_seed": " ".join(str(int(s)) for s in draw_seed), "camera": camera}


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def plain(row: pd.Series | dict) -> dict:
    """A read examples.csv row as plain JSON-able values (NumPy scalars unwrapped, blanks None)."""
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    return {k: (None if _blank(v) else v) for k, v in out.items()}


def cut_face(row: pd.Series | dict, data_root: str | Path | None = None) -> np.ndarray:
    """The 224-px classifier input of one example, cut from the data folder again (with its
    object drawn over it for an occluder example). Raises ImageError when the file is missing or
    unreadable, ValueError/KeyError for a row without a recipe (results from an older run)."""
    from maskdash import settings
    from maskdash.imaging import crop_face, load_rgb, to_input
    from maskdash.labels import CROP_MARGIN

    if _blank(row.get("image")):
        raise ValueError("this example has no source image recorded (re-run `python -m maskdash analyze`)")
    rgb = load_rgb(Path(data_root or settings.data_dir()) / str(row["image"]))
    if _blank(row.get("x1")):
        face = to_input(rgb)
    else:
        face = crop_face(rgb, tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2")), CROP_MARGIN)
    if not _blank(row.get("occluder")):
        from maskdash.analysis.occluders import FaceGeometry, occlude

        lm = parse_points(row.get("landmarks"))
        geo = FaceGeometry.from_landmarks(lm) if lm is not None else None
        seed = [int(s) for s in str(row["draw_seed"]).split()]
        kind = str(row["occluder"])
        if kind.startswith("mask_"):  # a mask drawn below the nose (the below_nose study)
            from maskdash.analysis.below_nose import mask_below_nose

            face = mask_below_nose(face, kind[len("mask_"):], geo, rng=np.random.default_rng(seed)).image
        else:
            face = occlude(face, kind, geo, rng=np.random.default_rng(seed)).image
    if not _blank(row.get("camera")):  # the dim-webcam study's rendering of this face
        from maskdash.data.camera import probe_view

        face = probe_view(face, str(row["camera"]), int(float(str(row["draw_seed"]).split()[0])))
    return face


def thumbnail(face_rgb: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
    """A THUMB_PX square of a 224 face, landmarks (in the face's pixels) drawn as dots."""
    import cv2

    s = THUMB_PX / face_rgb.shape[1]
    img = cv2.resize(face_rgb, (THUMB_PX, THUMB_PX), interpolation=cv2.INTER_AREA)
    if landmarks is not None:
        for k, (x, y) in enumerate(np.asarray(landmarks)[:6]):
            cv2.circle(img, (int(round(x * s)), int(round(y * s))), 2, DOT_COLOURS[k % 6], -1, cv2.LINE_AA)
    return img


def cut_example(row: pd.Series | dict, data_root: str | Path | None = None) -> np.ndarray:
    """The thumbnail the dashboard shows for one examples.csv row: an angle example with its
    landmarks as dots, an occluder example with the object drawn."""
    face = cut_face(row, data_root)
    dots = None if not _blank(row.get("occluder")) else parse_points(row.get("landmarks"))
    return thumbnail(face, dots)


def caption(row: pd.Series | dict) -> str:
    return f"{row['detail']} · {row['truth']} · p(mask) {float(row['p_mask']):.2f}"
