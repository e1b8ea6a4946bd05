"""Reading the committed training and evaluation reports (models/<recipe>/...) and recomputing
metrics from a predictions CSV at any threshold.

The dashboard must work on a fresh install from these files alone, so every loader tolerates a
missing file (returns None) and turns a damaged one into a `ReportError` with a readable reason.
The file formats are the contract written by `python -m maskdash train/evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from maskdash import settings

from maskdash.evaluation import evaluate
from maskdash.labels import CLASSES, classes_of, labels_for, normalize_class

RECIPES: tuple[str, str] = ("robust", "seed")  # robust is the shipped model
RECIPE_TITLES = {
    "robust": "robust (shipped)",
    "seed": "seed (the original recipe)",
}
# What the original system reported (validation accuracy, Face Mask 12K).
ORIGINAL_ACCURACY = 0.9762  # v2, brightness augmentation
ORIGINAL_V1_ACCURACY = 0.9376  # v1, no augmentation

SET_TITLES = {
    "test": "Test (Face Mask 12K)",
    "test_dedup": "Test, duplicates of Train removed",
    "validation": "Validation (Face Mask 12K)",
    "dev_scenes": "Dev scenes (real photos, all faces)",
    "dev_scenes_holdout": "Dev scenes, holdout fold",
    "extra_holdout": "Extra faces, holdout fold (other web photos)",
}
SET_ORDER = ("test", "test_dedup", "validation", "dev_scenes", "dev_scenes_holdout", "extra_holdout")
HISTORY_COLUMNS = ["epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"]


class ReportError(ValueError):
    """A report file that exists but cannot be used; `str()` is a message for the user."""


def reports_root() -> Path:
    """`MASKDASH_REPORTS` (a folder laid out like models/), default the committed models/."""
    return settings.reports_dir()


def recipe_dir(recipe: str) -> Path:
    return reports_root() / recipe


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path.name} of {path.parent.name} is unreadable ({exc})") from exc
    if not isinstance(value, dict):
        raise ReportError(f"{path.name} of {path.parent.name} is not a JSON object")
    return value


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ReportError(f"{path.name} of {path.parent.name} is unreadable ({exc})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ReportError(f"{path.name} of {path.parent.name} lacks columns: {', '.join(missing)}")
    if "truth" in df:  # reports written before the three-class model name the dev scenes' spelling
        df["truth"] = df["truth"].map(lambda t: normalize_class(str(t)) or t)
    return df


def load_history(recipe: str) -> pd.DataFrame | None:
    """Per-epoch history (epoch, stage, loss, accuracy, val_loss, val_accuracy, lr, epoch_seconds)."""
    df = _read_csv(recipe_dir(recipe) / "history.csv", ["epoch", "loss", "val_loss"])
    if df is not None:
        for col in HISTORY_COLUMNS:
            if col not in df.columns:
                df[col] = np.nan
    return df


def load_metrics(recipe: str) -> dict | None:
    return _read_json(recipe_dir(recipe) / "metrics.json")


def load_args(recipe: str) -> dict | None:
    return _read_json(recipe_dir(recipe) / "args.json")


def load_model_card(recipe: str) -> str | None:
    path = recipe_dir(recipe) / "MODEL_CARD.md"
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"MODEL_CARD.md of {recipe} is unreadable ({exc})") from exc


def prediction_sets(recipe: str) -> list[str]:
    """Names of the sets with a predictions_<set>.csv, in a sensible order."""
    folder = recipe_dir(recipe)
    found = [p.stem[len("predictions_"):] for p in folder.glob("predictions_*.csv")] if folder.is_dir() else []
    return sorted(found, key=lambda s: (SET_ORDER.index(s) if s in SET_ORDER else len(SET_ORDER), s))


def load_predictions(recipe: str, set_name: str) -> pd.DataFrame | None:
    """predictions_<set>.csv; "dev_scenes_holdout" is the holdout fold of the dev-scenes file
    (the robust recipe learnt from the other fold's faces)."""
    df = _read_csv(recipe_dir(recipe) / f"predictions_{set_name}.csv", ["truth", "p_mask"])
    if df is None and set_name == "dev_scenes_holdout":
        scenes = _read_csv(recipe_dir(recipe) / "predictions_dev_scenes.csv", ["truth", "p_mask", "fold"])
        if scenes is not None:
            df = scenes[scenes["fold"] == "holdout"].reset_index(drop=True)
    return df


def evaluated_sets(recipe: str, metrics: dict | None = None) -> list[str]:
    """Sets with figures for this recipe: those in metrics.json and those with predictions."""
    names = set(prediction_sets(recipe))
    if "dev_scenes" in names:
        names.add("dev_scenes_holdout")
    if metrics and isinstance(metrics.get("sets"), dict):
        names |= set(metrics["sets"])
    return sorted(names, key=lambda s: (SET_ORDER.index(s) if s in SET_ORDER else len(SET_ORDER), s))


def image_path(row_path: str, set_name: str) -> Path:
    """Where a predictions row's image lives in the data folder (Face Mask 12K paths are relative
    to facemask12k/, dev-scene paths are file names in face-mask-detection-dev/images/)."""
    if set_name.startswith("dev_scenes"):
        return settings.dev_scenes_dir() / "images" / row_path
    return settings.facemask12k_dir() / row_path


def test_accuracy(metrics: dict | None, set_name: str = "test") -> float | None:
    try:
        return float(metrics["sets"][set_name]["accuracy"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None


# ---------------------------------------------------------------- metrics from predictions


def binary_frame(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(is_with_mask, p_mask) for the rows whose truth is one of the two classes. Rows such as
    mask_incorrect have no binary truth and are left out."""
    keep = df["truth"].isin(CLASSES).to_numpy()
    y = (df["truth"].to_numpy()[keep] == CLASSES[0]).astype(np.int64)
    p = pd.to_numeric(df["p_mask"], errors="coerce").to_numpy(dtype=np.float64)[keep]
    ok = np.isfinite(p)
    return y[ok], p[ok]


def metrics_at(df: pd.DataFrame, threshold: float = 0.5) -> dict:
    """Every metric of a predictions CSV (columns truth, p_mask) recomputed at `threshold`:
    a face is called with_mask when p_mask >= threshold. Same keys as a metrics.json set
    (evaluate.metrics is the single definition; undefined ratios are None)."""
    y, p = binary_frame(df)
    return evaluate.metrics(1 - y, p, threshold)  # evaluate: 0 = with_mask, 1 = without_mask


def has_third_class(df: pd.DataFrame) -> bool:
    """Whether a predictions CSV comes from a three-class model (its p_incorrect is filled)."""
    return "p_incorrect" in df and pd.to_numeric(df["p_incorrect"], errors="coerce").notna().any()


def three_class_at(df: pd.DataFrame, threshold: float = 0.5) -> dict:
    """The labels of a three-class model's predictions CSV at `threshold` (the one rule) against
    its truths: evaluate.three_class's confusion, recalls and balanced accuracy."""
    p = pd.to_numeric(df["p_mask"], errors="coerce").to_numpy(dtype=np.float64)
    pinc = pd.to_numeric(df["p_incorrect"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(p)
    return evaluate.three_class(df["truth"].to_numpy()[ok], labels_for(p[ok], threshold, pinc[ok]))


def extra_holdout_table(metrics: dict | None) -> pd.DataFrame | None:
    """The extra faces' holdout groups of a metrics.json as rows (group, n, figure, share)."""
    x = (metrics or {}).get("extra_faces_holdout")
    if not x:
        return None
    inc, cov, hard = x["incorrect"], x["hand_or_object_over_mouth"], x["hard_negatives"]
    rows = [("masks worn below the nose", inc["n"], "called mask_incorrect", inc["called_incorrect"]),
            ("masks worn below the nose", inc["n"], "called with_mask", inc["called_with_mask"]),
            ("hand or object over an unmasked mouth", cov["n"], "called with_mask", cov["called_with_mask"]),
            ("reviewed hard negatives (unmasked)", hard["n"], "kept without_mask", hard["kept_without_mask"])]
    rows += [(f"dim webcam, {c}", v["n"], "kept its label", v["kept"]) for c, v in x["dim_webcam"].items() if v["n"]]
    return pd.DataFrame(rows, columns=["group", "n", "figure", "share"])


def roc_points(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """ROC curve (fpr, tpr, threshold), one point per distinct score, from (0,0) to (1,1)."""
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    distinct = np.r_[np.nonzero(np.diff(ps))[0], len(ps) - 1] if len(ps) else np.array([], int)
    tps = np.cumsum(ys)[distinct]
    fps = (distinct + 1) - tps
    pos, neg = max(int(ys.sum()), 1), max(int(len(ys) - ys.sum()), 1)
    return pd.DataFrame({
        "fpr": np.r_[0.0, fps / neg],
        "tpr": np.r_[0.0, tps / pos],
        "threshold": np.r_[np.inf, ps[distinct]],
    })


def pr_points(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Precision-recall curve for the with_mask class (recall, precision, threshold)."""
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    distinct = np.r_[np.nonzero(np.diff(ps))[0], len(ps) - 1] if len(ps) else np.array([], int)
    tps = np.cumsum(ys)[distinct]
    called = distinct + 1
    pos = max(int(ys.sum()), 1)
    return pd.DataFrame({
        "recall": np.r_[0.0, tps / pos],
        "precision": np.r_[1.0, tps / called],
        "threshold": np.r_[np.inf, ps[distinct]],
    })


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin of p(with_mask): mean predicted p, observed share of with_mask, count.
    Empty bins are left out."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = idx == b
        if not sel.any():
            continue
        rows.append({
            "bin_low": edges[b], "bin_high": edges[b + 1], "mean_p": float(p[sel].mean()),
            "fraction_with_mask": float(y[sel].mean()), "count": int(sel.sum()),
        })
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "mean_p", "fraction_with_mask", "count"])


# ---------------------------------------------------------------- the data audit (models/audit/)


def audit_dir() -> Path:
    return reports_root() / "audit"


def load_audit() -> dict | None:
    """audit.json written by `python -m maskdash audit`: counts of exact and near duplicates
    within and across the splits."""
    return _read_json(audit_dir() / "audit.json")


def load_duplicates() -> pd.DataFrame | None:
    """duplicates.csv: one row per file of a duplicate group (group, kind, path, split, label)."""
    return _read_csv(audit_dir() / "duplicates.csv", ["group", "kind", "path", "split"])


# ---------------------------------------------------------------- pages: Home, Training, Evaluation


def load_training_facts(recipe: str) -> dict | None:
    """training.json: time and machine of the run."""
    return _read_json(recipe_dir(recipe) / "training.json")


def load_occluders(recipe: str) -> pd.DataFrame | None:
    """The failure study's objects over the mouth (models/analysis/<recipe>/occluders_summary.csv):
    per object, the share of unmasked faces called with_mask."""
    return _read_csv(reports_root() / "analysis" / recipe / "occluders_summary.csv", ["object", "n", "called_with_mask"])


SCENES_FILE = "scenes_{fold}.json"  # written by `python -m maskdash scenes --fold F --json ...`


def load_scenes(recipe: str = "robust", fold: str = "holdout") -> dict | None:
    """The whole photo pipeline (the photo detector + this recipe's classifier) on one fold of
    the dev scenes, as `python -m maskdash scenes` wrote it; None when not committed."""
    doc = _read_json(recipe_dir(recipe) / SCENES_FILE.format(fold=fold))
    if doc is not None and not (isinstance(doc.get("all"), dict) and isinstance(doc.get("by_height"), list)):
        raise ReportError(f"{SCENES_FILE.format(fold=fold)} of {recipe} lacks the 'all' or 'by_height' figures")
    if doc is not None:  # files written before the three-class model name the dev scenes' spelling
        for part in [doc, *doc["by_height"]]:
            if isinstance(part.get("per_class"), dict):
                part["per_class"] = {normalize_class(k) or k: v for k, v in part["per_class"].items()}
    return doc


def scenes_by_height(doc: dict) -> pd.DataFrame:
    """One row per face-height bin and class (all faces first): bin, class, n, found, right
    (shares of the bin's labelled faces; None where n is 0)."""
    rows = []
    for b in doc["by_height"]:
        for cls, s in [("all faces", b), *(b.get("per_class") or {}).items()]:
            rows.append({"bin": b["bin"], "class": cls, "n": int(s["n"]), "found": s.get("found_share"),
                         "right": s.get("right_share")})
    return pd.DataFrame(rows, columns=["bin", "class", "n", "found", "right"])


def small_face_limit(doc: dict, below: float = 0.75) -> dict | None:
    """The largest face height under which fewer than `below` of the faces are found and
    labelled right (bins from the smallest up): {"max_px", "right", "n"} pooled over those bins,
    or None when even the smallest bin reaches it."""
    bins, pooled_n, pooled_right, limit = doc["by_height"], 0, 0, None
    for b in bins:
        share = b.get("right_share", b.get("found_share"))
        if share is None or share >= below or "-" not in b["bin"]:
            break
        pooled_n += int(b["n"])
        pooled_right += int(b.get("right", b.get("found", 0)))
        limit = int(b["bin"].split("-")[1])
    if limit is None:
        return None
    return {"max_px": limit, "right": pooled_right / pooled_n if pooled_n else None, "n": pooled_n}


def smallest_faces(metrics: dict | None) -> dict | None:
    """The smallest face-height bin of the dev holdout (e.g. under 16 px), or None."""
    rows = (metrics or {}).get("dev_scenes_holdout_by_height") or []
    return min(rows, key=lambda r: r.get("min_px", 0)) if rows else None


_NOTES_HEADING = "## Notes"


def card_for_users(card: str) -> str:
    """A model card as a user should read it: without the developer's `## Notes` section (how
    and where the run was made) and with file paths reduced to their names."""
    out, skipping = [], False
    for line in card.splitlines():
        if line.startswith("## "):
            skipping = line.strip() == _NOTES_HEADING
        if not skipping:
            out.append(_short_path_line(line))
    return "\n".join(out).strip() + "\n"


def _short_path_line(line: str) -> str:
    # "- `data`: /abs/machine/path/facemask12k" → "- `data`: facemask12k"
    head, sep, value = line.partition("`: ")
    if line.startswith("- `") and sep and _looks_like_path(value.strip()):
        return f"{head}{sep}{Path(value.strip()).name}"
    return line


def _looks_like_path(value: str) -> bool:
    return "/" in value and " " not in value


def args_for_users(args: dict) -> dict:
    """args.json without the run's output folder and with paths reduced to file names."""
    return {k: (Path(v).name if isinstance(v, str) and _looks_like_path(v) else v)
            for k, v in args.items() if k != "out"}


def trainer_of(args: dict | None) -> str:
    """The feed a run was trained with: "online" (fresh views every epoch) or "cached" (frozen
    features cached), also for run folders from before one trainer took both."""
    from maskdash.train.config import recognise

    return recognise(args or {})[1]


def validated_on_pack(args: dict | None) -> bool:
    """Whether the per-epoch validation figures were measured on a training pack's copy of
    Validation (faces re-encoded small, see maskdash.data.pack) rather than the original files."""
    return bool(args) and str(args.get("data", "")).endswith(".npz")


def train_accuracy_scope(history: pd.DataFrame, args: dict | None) -> str:
    """What the per-epoch train accuracy of `history` averages over: "epoch" (the mean over all
    training faces of the epoch) or "last batch of N faces". Some runs logged only each epoch's
    last batch; it is recognised by every value being a multiple of 1/N, N being the size of that
    last batch (training faces mod batch size)."""
    n_train = ((args or {}).get("pack") or {}).get("train")
    batch = (args or {}).get("batch_size")
    acc = pd.to_numeric(history.get("accuracy"), errors="coerce").dropna() if "accuracy" in history else pd.Series()
    if not n_train or not batch or acc.empty:
        return "epoch"
    last = int(n_train) % int(batch) or int(batch)
    if last < int(batch) and np.allclose(acc * last, np.round(acc * last), atol=1e-3):
        return f"last batch of {last} faces"
    return "epoch"


def probe_table(metrics: dict | None, probe: str) -> tuple[pd.DataFrame, dict[str, int]] | None:
    """A robustness probe of metrics.json as (table, n): "resolution" → width (px) and the share
    correct per class; "lighting" → brightness factor and the share correct of "all faces". `n` gives the
    number of Test faces behind each column (from the Test confusion matrix)."""
    block = ((metrics or {}).get("probes") or {}).get(probe) or {}
    if not block:
        return None
    conf = np.asarray(((metrics.get("sets") or {}).get("test") or {}).get("confusion") or [[0, 0], [0, 0]])
    if probe == "resolution":
        table = pd.DataFrame([{"width (px)": int(k), **{c: v.get(c) for c in CLASSES}} for k, v in block.items()])
        n = {c: int(conf[i].sum()) for i, c in enumerate(CLASSES)}
        return table.sort_values("width (px)").reset_index(drop=True), {c: v for c, v in n.items() if v}
    table = pd.DataFrame([{"brightness ×": float(k), "all faces": v.get("accuracy")} for k, v in block.items()])
    return table.sort_values("brightness ×").reset_index(drop=True), ({"all faces": int(conf.sum())} if conf.sum() else {})


# ---------------------------------------------------------------- export of the shipped model

EXPORT_FORMATS = {".tflite": "application/octet-stream", ".keras": "application/zip"}


def model_sizes(recipe: str) -> dict[str, int]:
    """{suffix: size in bytes} of the committed models/<recipe>/model.tflite and model.keras."""
    paths = {suffix: recipe_dir(recipe) / f"model{suffix}" for suffix in EXPORT_FORMATS}
    return {suffix: path.stat().st_size for suffix, path in paths.items() if path.is_file()}


def read_model(recipe: str, suffix: str) -> bytes:
    """The bytes of models/<recipe>/model<suffix>, as a user downloads them."""
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"no model format {suffix!r}; one of {', '.join(EXPORT_FORMATS)}")
    path = recipe_dir(recipe) / f"model{suffix}"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ReportError(f"model{suffix} of {recipe} is unreadable ({exc.strerror or exc})") from exc


def model_classes(args: dict | None) -> tuple[str, ...]:
    """The class names of a recipe's model, from its args.json (binary unless it says 3)."""
    return classes_of(3 if (args or {}).get("classes") == 3 else 2)


def labels_text(classes: tuple[str, ...] = CLASSES) -> str:
    """labels.txt: one class per line, in the order of the model's outputs."""
    return "".join(f"{c}\n" for c in classes)


def input_description(metrics: dict | None = None, classes: tuple[str, ...] = CLASSES) -> dict:
    """input.json: what the exported model takes and gives, for someone wiring it into an app."""
    from maskdash.imaging import INPUT_SIZE
    from maskdash.labels import CROP_MARGIN, DEFAULT_THRESHOLD

    tflite = (metrics or {}).get("tflite") or {}
    return {
        "input": {
            "shape": [1, INPUT_SIZE, INPUT_SIZE, 3],
            "batch": "the first dimension may be resized to any batch size",
            "dtype": "float32",
            "color_order": "RGB",
            "value_range": [0, 255],
            "preprocessing": "inside the model (MobileNetV2's scaling to [-1, 1]): feed raw pixel values",
            "face_crop": f"a square around the face box, its longer side widened by {CROP_MARGIN:.0%}, "
                         f"resized to {INPUT_SIZE}×{INPUT_SIZE}",
        },
        "output": {
            "shape": [1, len(classes)],
            "dtype": "float32",
            "meaning": "softmax probabilities, one per line of labels.txt",
            "labels": list(classes),
            "decision": f"{classes[0]} when its probability is at least {DEFAULT_THRESHOLD}"
                        + (f"; below it, the likelier of {classes[1]} and {classes[2]}" if len(classes) > 2 else ""),
        },
        "tflite_quantization": tflite.get("quantization", "float32"),
    }
