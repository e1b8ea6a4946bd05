"""The shipped model's report: from a finished run folder to models/<recipe>/ with every figure
the dashboard and the model card quote (Test, de-duplicated Test, Validation, dev scenes,
resolution and lighting probes, throughput, TFLite export accuracy)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np

from maskdash import settings

from maskdash.evaluation import evaluate, shipped
from maskdash.data import datasets
from maskdash.model.runtime import from_keras_model, load_classifier, load_keras, record_checksums, to_tflite
from maskdash.train.config import recognise


def check_run(run: Path) -> None:
    """Raise (naming the file) unless `run` is a finished run folder whose checkpoint opens: nothing
    in the model folder may be replaced by a run that cannot be reported."""
    if not run.is_dir():
        raise FileNotFoundError(f"no run folder {settings.display_path(run)}")
    load_keras(run / "best.keras")  # ModelFileError names the file and what is wrong with it
    if not (run / "training.json").exists():
        missing = [n for n in ("args.json", "history.csv") if not (run / n).is_file()]
        if missing:
            raise FileNotFoundError(f"the run folder {settings.display_path(run)} has no training.json and no "
                                    f"{' or '.join(missing)}: it is not a finished run")


def ship_run(run: Path, out: Path) -> dict:
    """Copy the best checkpoint and the run's records (checked first: `check_run`); returns training facts."""
    check_run(run)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run / "best.keras", out / "model.keras")
    for name in ("args.json", "history.csv", "skipped.csv"):
        if (run / name).exists():
            shutil.copy2(run / name, out / name)
    if (run / "training.json").exists():  # written by the trainer on the machine it ran on
        facts = {**json.loads((run / "training.json").read_text()), "run": settings.display_path(run)}
        (out / "training.json").write_text(json.dumps(facts, indent=2))
        return facts
    # a run folder from before the trainer wrote training.json: its times from the files' dates
    started = (run / "args.json").stat().st_mtime
    ended = (run / "history.csv").stat().st_mtime
    with open(run / "history.csv") as f:
        epochs = sum(float(r["epoch_seconds"]) for r in csv.DictReader(f))
    facts = {"wall_seconds": round(ended - started), "epoch_seconds_total": round(epochs),
             "run": settings.display_path(run), "machine": evaluate.machine_description()}
    features = run / "cache" / "train_x.npy"
    if features.exists() and features.stat().st_mtime > started:  # computed by this run, not reused
        facts["feature_seconds"] = round(features.stat().st_mtime - started)
    (out / "training.json").write_text(json.dumps(facts, indent=2))
    return facts


def build_report(model_dir: Path, data_dir: Path | None = None, scenes_dir: Path | None = None,
                 audit_dir: Path | None = None, tflite: bool = False, progress: bool = True,
                 extra_dir: Path | None = None) -> dict:
    from maskdash.data.audit import dedup_test_paths, run_audit

    data_dir = Path(data_dir or settings.facemask12k_dir())
    scenes_dir = Path(scenes_dir or settings.dev_scenes_dir())
    audit_dir = Path(audit_dir or settings.MODELS_DIR / "audit")
    if not (audit_dir / "test_dedup.txt").exists():
        run_audit(data_dir, audit_dir, progress=progress)
    dedup = dedup_test_paths(audit_dir)

    keras_path = model_dir / "model.keras"
    model = load_keras(keras_path)
    if not tflite:
        record_checksums([keras_path])
    # float32 TFLite gives Keras' numbers ~4× faster on a CPU; the file itself is not shipped
    clf = from_keras_model(model, keras_path)

    doc = evaluate.evaluate_to_dir(clf, data_dir, "Test", model_dir, "test", dedup, probes=True, progress=progress)
    val = evaluate.evaluate_to_dir(clf, data_dir, "Validation", model_dir / "_val", "validation", progress=progress)
    doc["sets"]["validation"] = val["sets"]["validation"]
    shutil.move(str(model_dir / "_val" / "predictions_validation.csv"), model_dir / "predictions_validation.csv")
    shutil.move(str(model_dir / "_val" / "confusion_validation.csv"), model_dir / "confusion_validation.csv")
    shutil.rmtree(model_dir / "_val")
    if (scenes_dir / "annotations").is_dir():
        scene_results, rows = evaluate.evaluate_scenes(clf, scenes_dir, progress=progress)
        for key in ("dev_scenes", "dev_scenes_holdout"):
            doc["sets"][key] = scene_results[key]
            evaluate.write_confusion(model_dir / f"confusion_{key}.csv", scene_results[key]["confusion"])
        doc["dev_scenes_incorrect"] = scene_results["dev_scenes_incorrect"]
        doc["dev_scenes_holdout_incorrect"] = scene_results["dev_scenes_holdout_incorrect"]
        doc["dev_scenes_holdout_by_height"] = scene_results["dev_scenes_holdout_by_height"]
        doc["dev_scenes_holdout_grayscale"] = scene_results["dev_scenes_holdout_grayscale"]
        from maskdash.evaluation import scenes
        from maskdash.inference.detection import default_photo_detector, make_detector

        # the whole photo pipeline, as the Photos page runs it: the same file `scenes --json` writes
        pipeline = scenes.evaluate_pipeline(make_detector(default_photo_detector()), clf,
                                            scenes.fold_scenes(scenes_dir, "holdout"), progress=progress)
        pipeline["fold"] = "holdout"
        (model_dir / shipped.SCENES_FILE.format(fold="holdout")).write_text(json.dumps(pipeline, indent=2))
        evaluate.write_csv(model_dir / "predictions_dev_scenes.csv", evaluate.SCENE_EVAL_COLUMNS, rows)

    extra_dir = Path(extra_dir or settings.extra_faces_dir())
    if (extra_dir / "index.csv").is_file():
        doc["extra_faces_holdout"], rows = evaluate.evaluate_extra(clf, extra_dir, "holdout", progress=progress)
        evaluate.write_csv(model_dir / "predictions_extra_holdout.csv", evaluate.EXTRA_COLUMNS, rows)
    for name, m in doc["sets"].items():  # the labels' own confusion beside the binary one
        if "three_class" in m:
            evaluate.write_confusion(model_dir / f"confusion3_{name}.csv", m["three_class"]["confusion"])
    if "extra_faces_holdout" in doc:
        evaluate.write_confusion(model_dir / "confusion3_extra_holdout.csv",
                                 doc["extra_faces_holdout"]["three_class"]["confusion"])

    args = json.loads((model_dir / "args.json").read_text()) if (model_dir / "args.json").exists() else {}
    doc["recipe"] = recognise(args)[0] if args else model_dir.name
    doc["model"] = str(keras_path.relative_to(settings.PROJECT_ROOT)) if keras_path.is_relative_to(settings.PROJECT_ROOT) else str(keras_path)
    doc["data"] = "facemask12k (Train/Validation/Test) + face-mask-detection-dev + extra-faces (holdout fold)"
    doc["generated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    doc.pop("split", None)
    doc.pop("skipped", None)

    if tflite:
        blob = to_tflite(model, "float16")
        (model_dir / "model.tflite").write_bytes(blob)
        record_checksums([model_dir / "model.tflite", keras_path])
        fast = load_classifier(model_dir / "model.tflite")
        loaded = datasets.load_samples(datasets.list_split(data_dir, "Test"), progress=False)
        p16 = evaluate.scores(fast, loaded.images)[0]
        ref = np.array([r for r in _read_p(model_dir / "predictions_test.csv")])
        m16 = evaluate.metrics(loaded.labels, p16)
        doc["tflite"] = {
            "file": "model.tflite", "quantization": "float16", "size_mb": round(len(blob) / 1e6, 2),
            "test_accuracy": m16["accuracy"],
            "agreement": float(((p16 >= 0.5) == (ref >= 0.5)).mean()),
            "max_abs_diff_p_mask": float(np.abs(p16 - ref).max()),
        }
        doc["throughput"] = {**evaluate.throughput(fast), "backend": "tflite float16",
                             "machine": evaluate.machine_description()}
    else:
        doc["throughput"] = {**evaluate.throughput(clf), "backend": "tflite float32",
                             "machine": evaluate.machine_description()}
    (model_dir / "metrics.json").write_text(json.dumps(doc, indent=2))
    write_model_card(model_dir)
    return doc


def _read_p(path: Path):
    import csv

    with open(path) as f:
        for row in csv.DictReader(f):
            yield float(row["p_mask"])


def grayscale_card_lines(doc: dict) -> list[str]:
    g = doc.get("dev_scenes_holdout_grayscale")
    if not g:
        return []
    return ["", "Black and white (CCTV, an infrared night mode): the dev holdout's labelled faces turned grey; "
            "share keeping its label, grey against colour: " + "; ".join(
                f"{c} {_pct(r['kept'])} against {_pct(r['kept_colour'])} (n = {r['n']})" for c, r in g.items()) + "."]


def summary_lines(doc: dict) -> list[str]:
    lines = [f"model: {doc.get('model')}  recipe: {doc.get('recipe')}"]
    for name, m in doc["sets"].items():
        lines.append(evaluate.format_metrics(name, m))
    if "dev_scenes_incorrect" in doc:
        inc = doc["dev_scenes_incorrect"]
        lines.append(f"dev scenes, mask worn incorrectly: n={inc['n']}, called with_mask {100 * (inc['called_with_mask'] or 0):.1f}%")
    lines += [x for x in grayscale_card_lines(doc) if x]
    for name in ("dev_scenes_holdout", "test"):
        t = doc["sets"].get(name, {}).get("three_class")
        if t:
            lines.append(f"{name} three-class recall: " + ", ".join(
                f"{c} {_pct(r)}" for c, r in t["recall"].items() if r is not None))
    x = doc.get("extra_faces_holdout")
    if x:
        r = x["three_class"]["recall"]
        lines.append(f"extra faces holdout (n={x['n']}): " + ", ".join(f"{c} kept {_pct(v)}" for c, v in r.items()))
        lines.append(f"  hands/objects over the mouth called with_mask {_pct(x['hand_or_object_over_mouth']['called_with_mask'])}"
                     f" (n={x['hand_or_object_over_mouth']['n']}); hard negatives kept without_mask "
                     f"{_pct(x['hard_negatives']['kept_without_mask'])} (n={x['hard_negatives']['n']})")
    probes = doc.get("probes", {})
    for w, r in probes.get("resolution", {}).items():
        lines.append(f"resolution probe {w:>3} px: keeps with_mask {100 * r['with_mask']:.1f}%, without_mask {100 * r['without_mask']:.1f}%")
    for f, r in probes.get("lighting", {}).items():
        lines.append(f"lighting probe ×{f}: accuracy {100 * r['accuracy']:.2f}%")
    for level, r in probes.get("dim_webcam", {}).items():
        lines.append(f"dim-webcam probe {level}: keeps with_mask {_pct(r['with_mask'])}, without_mask {_pct(r['without_mask'])}")
    if "tflite" in doc:
        t = doc["tflite"]
        lines.append(f"TFLite {t['quantization']} ({t['size_mb']} MB): Test accuracy {100 * t['test_accuracy']:.2f}%, agreement {100 * t['agreement']:.2f}%")
    if "throughput" in doc:
        t = doc["throughput"]
        lines.append(f"throughput ({t.get('backend')}): {t['batch_faces_per_s']} faces/s batched, {t['single_ms']} ms single ({t['machine']})")
    return lines


# What each (recipe, feed) trains, for the model card (`maskdash.train.config` has the values).
RECIPES = {
    ("seed", "cached"): (
        "The original as published: MobileNetV2 (ImageNet, frozen) → Flatten → Dense(2, softmax); "
        "Adam, categorical cross-entropy; brightness augmentation (×0.6–1.4); ReduceLROnPlateau "
        "(×0.3 after 2 flat epochs) and EarlyStopping (3). Kept so that the dashboard can show, on "
        "the same data, what the original learnt and where it fails."
    ),
    ("robust", "cached"): (
        "MobileNetV2 (ImageNet) → GlobalAveragePooling → Dropout 0.3 → Dense(2, softmax); "
        "preprocessing inside the model (raw RGB in). A head trained first, then blocks 13–16 of the "
        "base fine-tuned at a 10× lower rate (BatchNorm frozen). Augmentation against the data set's "
        "shortcuts: random resolution (down to ~20 px and back), brightness ×0.4–1.6, contrast, "
        "saturation, colour cast, flips, rotation ±15°, zoom/shift, blur, JPEG and noise, and a "
        "skin-toned hand over the mouth that stays 'without mask'. Also learns from the face crops "
        "of the dev scenes' train fold, each class of them weighted equally."
    ),
    ("robust", "online"): (
        "MobileNetV2 (ImageNet) → GlobalAveragePooling → Dropout 0.3 → Dense(2, softmax); "
        "preprocessing inside the model (raw RGB in). Trained by `train --feed online`: one head epoch, then "
        "every block above `block_2_add` fine-tuned (BatchNorm frozen) with a warm-up epoch and cosine "
        "decay, on fresh augmented views of every face each epoch. Augmentation against the data set's "
        "shortcuts: random resolution (down to ~20 px and back), brightness ×0.4–1.6, contrast, "
        "saturation, colour cast, flips, rotation ±15°, zoom/shift, blur, JPEG and noise. Against "
        "'anything over the mouth is a mask': a quarter of the unmasked faces get something that is not "
        "a mask over the mouth (often the nose too) — real photo patches from the dev scenes' "
        "backgrounds or the face's own skin, in varied outlines — and every face may get such a patch "
        "away from the mouth, so a pasted edge is no clue. Also learns from the face crops of the dev "
        "scenes' train fold, each class of them weighted equally. The checkpoint is chosen on "
        "validation only: the mean of the Face Mask 12K Validation loss and the class-balanced loss "
        "on `scene_val` (a fifth of the dev train-fold images, never trained on)."
    ),
}

THREE_CLASS_TEXT = (
    "Started from an earlier shipped model (`init`; how each was made: the notes below and the git "
    "history of this card). The first three-class one was the GPU-trained binary `robust` model "
    "widened to three outputs — with_mask and without_mask keep their weights, mask_incorrect starts "
    "from their mean and rare. Each run: blocks 13–16 and the head fine-tuned on a CPU with the cached "
    "feed (`train --feed cached --init … --classes 3`): the frozen bottom's features computed once for "
    "two augmented views of every face. The views: {views}, and for {dim} of them a dim-webcam "
    "camera model (`maskdash/data/camera.py`). The faces: Face Mask 12K Train; the dev scenes' train "
    "fold with their masks worn below the nose; the extra faces' train fold (real masks below the "
    "nose, hands and food at the mouth, dim webcams, hard negatives); and Train faces given a mask "
    "slid below the nose (`maskdash/data/synth.py`). Each real source's classes weigh equally (at "
    "most 2 × dev_weight per face). The checkpoint is chosen on validation only: the mean of the Face "
    "Mask 12K Validation loss and the class-balanced loss on the extra faces' val fold."
)

THREE_CLASS_ONLINE_TEXT = (
    "The earlier three-class model (the GPU-trained binary `robust` model widened to three outputs, "
    "then blocks 13–16 fine-tuned on the cached feed: see the git history of this card) fine-tuned as a "
    "whole above `block_2_add` (BatchNorm frozen) with the online feed (`train --feed online --classes 3 "
    "--init …`): fresh augmented views of every face each epoch, a warm-up epoch at a quarter of the "
    "rate, then cosine decay. The views: {views}, and for {dim} of them a dim-webcam camera model "
    "(`maskdash/data/camera.py`). The faces come from a pack (`pack --classes 3 --extra-faces … "
    "--synth-incorrect N`): Face Mask 12K Train; the dev scenes' train fold with their masks worn "
    "below the nose (less `scene_val`, a fifth of its images); the extra faces' train fold (real masks "
    "below the nose, hands and food at the mouth, dim webcams, hard negatives); and Train faces given "
    "a mask slid below the nose (`maskdash/data/synth.py`). Each real source's classes weigh equally "
    "(at most 2 × dev_weight per face). The checkpoint is chosen on validation only: the mean of the "
    "Face Mask 12K Validation loss and the class-balanced loss on the real faces kept from training "
    "(`scene_val` and the extra faces' val fold)."
)

AUGMENT_TEXT = {
    "robust": "the robust augmentation (resolution, light, colour, blur, JPEG, noise, a drawn hand over "
              "unmasked mouths)",
    "online": "the online augmentation (resolution, light, colour, blur, JPEG, noise; {cover} of the "
              "unmasked faces get something that is not a mask over the mouth — a real background patch "
              "or their own skin in a plain outline, a hand of fingers and palm in their own skin, or a "
              "mouth-only skin blob — and faces a patch elsewhere, so that a pasted edge is no clue)",
}


def _augment_text(args: dict) -> str:
    cover = args.get("cover_p")
    share = f"{float(cover) * 100:.0f} %" if cover is not None else "a share"
    return AUGMENT_TEXT.get(args.get("augment"), "augmented").format(cover=share)


STRETCH_TEXT = (
    " The model's first layer takes each face's own brightness and contrast out before the base sees it "
    "(`ContrastStretch` in `maskdash/model/layers.py`: the face's mean to the middle, 2.33 standard "
    "deviations to the ends of −1…1), so that a dim webcam's flat, dark face reaches the base as a lit one "
    "would; earlier models rescaled 0…255 to −1…1 as MobileNetV2 learnt.")


def _dim_text(args: dict) -> str:
    # runs from before --low-light-p existed used the fixed share, 0.15
    share = f"{float(args.get('low_light_p') or 0.15) * 100:.0f} %"
    top = args.get("low_light_max")
    return share if top is None else f"{share} (3–{float(top) * 100:.0f} % of a well-lit scene's light)"


LIMITS = (
    "- Trained on Face Mask 12K (frontal, mostly CelebA unmasked faces and web photos of masked "
    "faces){scenes}: people, cameras and masks unlike these may score lower.\n"
    "- Faces under ~16 px tall carry little information; their label is unreliable (see the "
    "by-height table).\n"
    "{incorrect}\n"
    "- A classifier of mask wearing, not of identity, age, or health; do not use it to make "
    "decisions about individuals without a person checking."
)


def _recipe_text(recipe: str, feed: str) -> str:
    return RECIPES.get((recipe, feed)) or RECIPES.get((recipe, "cached"), recipe)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def _num(x) -> str:
    """ROC AUC and ECE: None where a set has one class only, or no faces."""
    return "–" if x is None else f"{x:.4f}"


def scenes_card_lines(model_dir: Path, fold: str = "holdout") -> list[str]:
    """The card's section from scenes_<fold>.json (`python -m maskdash scenes --fold F --json`):
    the Photos page's detector + this classifier, found and labelled right by face height.
    Nothing when the file is absent."""
    path = model_dir / f"scenes_{fold}.json"
    if not path.exists():
        return []
    sc = json.loads(path.read_text())
    classes = list(sc["per_class"])
    a = sc["all"]
    L = ["", f"### Dev-scene {fold} through the photo pipeline by face height ({sc['detector']})", "",
         f"`python -m maskdash scenes --fold {fold}`: {sc['images']} images, {a['n']} labelled faces. A face counts "
         f"when a detection overlaps it (IoU ≥ {sc['min_iou']}) and its verdict is right (a mask worn below the "
         f"nose: right when not called with_mask). All faces: found and labelled right {_pct(a.get('right_share'))}, "
         f"found {_pct(a.get('found_share'))}; {sc['false_positives_per_image']:.2f} false detections per image.", "",
         "| height px | all faces | " + " | ".join(classes) + " |", "|---" * (len(classes) + 2) + "|"]
    for b in sc["by_height"]:
        cells = [f"{_pct(s.get('right_share'))} (n = {s['n']})" for s in [b, *(b["per_class"][c] for c in classes)]]
        L.append(f"| {b['bin']} | " + " | ".join(cells) + " |")
    return L


def three_class_card_lines(doc: dict) -> list[str]:
    """The labels' own figures (three-class models): the dev holdout's 3×3 recall and the extra
    faces' holdout groups."""
    L: list[str] = []
    hold = doc.get("sets", {}).get("dev_scenes_holdout", {}).get("three_class")
    if hold:
        L += ["", "### Three classes", "", "Share of each truth class given its own label (rows of the 3×3 "
              "confusion, `confusion3_*.csv`).", "", "| set | n | with_mask | without_mask | mask_incorrect |",
              "|---|---|---|---|---|"]
        rows = [("dev scenes holdout", hold)]
        if doc.get("extra_faces_holdout"):
            rows.append(("extra faces holdout", doc["extra_faces_holdout"]["three_class"]))
        for name, t in rows:
            conf = dict(zip(t["classes"], t["confusion"]))
            n = {c: sum(conf[c]) for c in t["classes"]}
            L.append(f"| {name} | {t['n']} | " + " | ".join(
                f"{_pct(t['recall'][c])} (n {n[c]})" for c in ("with_mask", "without_mask", "mask_incorrect")) + " |")
    x = doc.get("extra_faces_holdout")
    if x:
        h, hn, inc = x["hand_or_object_over_mouth"], x["hard_negatives"], x["incorrect"]
        L += ["", f"Extra faces' holdout fold (real crops, split by source photo, never trained on; n = {x['n']}):",
              f"- masks worn below the nose: `mask_incorrect` {_pct(inc['called_incorrect'])}, `with_mask` "
              f"{_pct(inc['called_with_mask'])} (n = {inc['n']})",
              f"- hands or objects over an unmasked mouth: called `with_mask` {_pct(h['called_with_mask'])} "
              f"(n = {h['n']}; hands alone {_pct(h['hands_called_with_mask'])} of {h['hands']})",
              f"- reviewed hard negatives: kept `without_mask` {_pct(hn['kept_without_mask'])} (n = {hn['n']})",
              "- dim webcam faces: " + ", ".join(f"{c} kept {_pct(v['kept'])} (n = {v['n']})"
                                                  for c, v in x["dim_webcam"].items() if v["n"])]
    return L


def write_model_card(model_dir: Path) -> Path:
    """MODEL_CARD.md from the files beside it, so that every figure in it comes from a command."""
    doc = json.loads((model_dir / "metrics.json").read_text())
    args = json.loads((model_dir / "args.json").read_text()) if (model_dir / "args.json").exists() else {}
    facts = json.loads((model_dir / "training.json").read_text()) if (model_dir / "training.json").exists() else {}
    history = []
    if (model_dir / "history.csv").exists():
        with open(model_dir / "history.csv") as f:
            history = list(csv.DictReader(f))
    skipped = 0
    if (model_dir / "skipped.csv").exists():
        skipped = max(0, len((model_dir / "skipped.csv").read_text().splitlines()) - 1)
    recipe = doc.get("recipe", model_dir.name)
    feed = recognise(args)[1]
    classes = int(args.get("classes") or 2)
    what = ("Three-class face classifier: `with_mask`, `without_mask`, `mask_incorrect` (a mask worn below "
            "the nose or on the chin) for one face crop" if classes == 3 else
            "Binary face classifier: `with_mask` vs `without_mask` for one face crop")
    output = ("Output: softmax (p_mask, p_without, p_incorrect). The label: `with_mask` when p_mask ≥ the "
              "threshold, else the likelier of the other two; the binary view (compliant = `with_mask`) "
              "is what the accuracy tables measure" if classes == 3 else "Output: p(with_mask)")
    L = [f"# Model card: MaskDash `{recipe}`", "",
         f"{what} (224×224 RGB, a square box with a 20 % margin around the detected face). {output}.", "",
         "## Recipe", "", (THREE_CLASS_ONLINE_TEXT if feed == "online" else THREE_CLASS_TEXT).format(
             views=_augment_text(args), dim=_dim_text(args))
         if classes == 3 else _recipe_text(recipe, feed)]
    if args.get("preprocess") == "stretch":
        L[-1] += STRETCH_TEXT
    L += ["", "## Training data and arguments", ""]
    shown = ("feed", "data", "train_split", "val_split", "epochs", "views", "batch_size", "lr", "base_weights", "seed")
    if recipe != "seed":  # the seed recipe has no fine-tuning stage and no scene faces
        shown += ("head_epochs", "fine_tune_lr", "dev_scenes", "dev_weight", "init", "cut", "cover_p",
                  "distract_p", "low_light_p", "low_light_max", "preprocess", "schedule", "minutes", "classes", "extra_faces")
    for k in shown:
        if k in args and args[k] is not None:
            L.append(f"- `{k}`: {args[k]}")
    L.append(f"- unreadable files skipped: {skipped} (listed in `skipped.csv`)")
    if history:
        key = "selection_loss" if "selection_loss" in history[0] else "val_loss"
        best = min(history, key=lambda r: float(r[key]))
        scene_val = bool(best.get("scene_val_loss"))  # empty where the feed has no scene_val faces
        chosen = "lowest mean of validation and scene_val loss" if scene_val else "lowest validation loss"
        extra = (f", scene_val balanced accuracy {_pct(float(best['scene_val_balanced_accuracy']))}"
                 if scene_val and best.get("scene_val_balanced_accuracy") else "")
        L += ["", "## Training", "",
              f"- epochs run: {len(history)}; best ({chosen}): epoch {best['epoch']} "
              f"({best['stage']}), validation accuracy {_pct(float(best['val_accuracy']))}{extra}",
              f"- time in epochs: {facts.get('epoch_seconds_total', '?')} s"
              + (f"; feature extraction: {facts['feature_seconds']} s" if "feature_seconds" in facts else
                 "; augmented views drawn anew every epoch" if feed == "online" else
                 "; features of the frozen bottom were computed once and cached (the run folder's `cache/`)"),
              f"- hardware: {facts.get('machine', '?')}", "- per-epoch figures: `history.csv`"]
    L += ["", "## Results", "", "Threshold 0.5. `Test dedup`: the Test split without images that also "
          "occur (exactly or nearly) in Train/Validation (`models/audit/`). Dev scenes: faces cut "
          "from ground-truth boxes; `holdout` images were never trained on.", "",
          "| set | n | accuracy | balanced acc. | recall with_mask | recall without_mask | ROC AUC | ECE |",
          "|---|---|---|---|---|---|---|---|"]
    for name, m in doc["sets"].items():
        L.append(f"| {name} | {m['n']} | {_pct(m['accuracy'])} | {_pct(m['balanced_accuracy'])} | "
                 f"{_pct(m['recall']['with_mask'])} | {_pct(m['recall']['without_mask'])} | "
                 f"{_num(m['roc_auc'])} | {_num(m['ece'])} |")
    L += ["", "The original reported 97.62 % on Face Mask 12K Validation."]
    if doc.get("dev_scenes_holdout_by_height"):
        L += ["", "### Dev-scene holdout by face height", "", "| height px | n with | recall with | n without | recall without |", "|---|---|---|---|---|"]
        for r in doc["dev_scenes_holdout_by_height"]:
            L.append(f"| {r['min_px']}–{r['max_px'] if r['max_px'] < 10_000 else '∞'} | {r['n_with_mask']} | "
                     f"{_pct(r['recall_with_mask'])} | {r['n_without_mask']} | {_pct(r['recall_without_mask'])} |")
    L += scenes_card_lines(model_dir)
    if doc.get("dev_scenes_incorrect"):
        inc = doc["dev_scenes_incorrect"]
        L += ["", f"Masks worn incorrectly in the dev scenes (n = {inc['n']}): called `with_mask` "
              f"{_pct(inc['called_with_mask'])} of the time"
              + (f", `mask_incorrect` {_pct(inc['called_incorrect'])}." if inc.get("called_incorrect") is not None else ".")]
    L += grayscale_card_lines(doc)
    L += three_class_card_lines(doc)
    probes = doc.get("probes", {})
    if probes:
        L += ["", "## Probes (Face Mask 12K Test)", "", "Resolution: each face shrunk to W px wide and enlarged back; share keeping its label.", "",
              "| W px | with_mask | without_mask |", "|---|---|---|"]
        for w, r in probes.get("resolution", {}).items():
            L.append(f"| {w} | {_pct(r['with_mask'])} | {_pct(r['without_mask'])} |")
        L += ["", "Lighting: brightness × factor.", "", "| factor | accuracy |", "|---|---|"]
        for fct, r in probes.get("lighting", {}).items():
            L.append(f"| ×{fct} | {_pct(r['accuracy'])} |")
        if probes.get("dim_webcam"):
            L += ["", "Dim webcam: each face through the camera model of `maskdash/data/camera.py` (a 64 px face, "
                  "shot and read noise at the webcam's gain, a lamp's colour cast, motion blur, JPEG q35); share "
                  "keeping its own label.", "", "| level (light) | with_mask | without_mask |", "|---|---|---|"]
            from maskdash.data.camera import LEVELS

            for level, r in probes["dim_webcam"].items():
                L.append(f"| {level} (×{LEVELS.get(level, '?')}) | {_pct(r['with_mask'])} | {_pct(r['without_mask'])} |")
    if "tflite" in doc:
        t = doc["tflite"]
        L += ["", "## Export", "", f"`{t['file']}`: TFLite {t['quantization']}, {t['size_mb']} MB; Test accuracy "
              f"{_pct(t['test_accuracy'])}, same label as the Keras model on {_pct(t['agreement'])} of Test "
              f"(largest p_mask difference {t['max_abs_diff_p_mask']:.4f})."]
    if "throughput" in doc:
        t = doc["throughput"]
        L += ["", "## Inference speed", "", f"{t['backend']}: {t['batch_faces_per_s']} faces/s in batches of 64, "
              f"{t['single_ms']} ms for a single face ({t['single_faces_per_s']} faces/s); {t['machine']}."]
    if (model_dir / "NOTES.md").exists():  # provenance written by a person, kept across re-generations
        L += ["", "## Notes", "", (model_dir / "NOTES.md").read_text().strip()]
    scenes = " and the faces of a few hundred street scenes" if args.get("dev_scenes") else ""
    incorrect = ("- Masks worn below the nose are learnt from a few hundred real faces and generated ones; "
                 "a mask only slightly low, or a face turned away, may still read as either neighbour."
                 if classes == 3 else "- Masks worn incorrectly (nose out) are a third case it was not trained "
                 "to name; see the dev-scene figure above.")
    L += ["", "## Limits", "", LIMITS.format(scenes=scenes, incorrect=incorrect), "", f"Generated by `python -m maskdash report` on {doc.get('generated', '?')}.", ""]
    out = model_dir / "MODEL_CARD.md"
    out.write_text("\n".join(L))
    return out
