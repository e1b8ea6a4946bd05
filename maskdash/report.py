"""The shipped model's report: from a finished run folder to models/<recipe>/ with every figure
the dashboard and the model card quote (Test, de-duplicated Test, Validation, dev scenes,
resolution and lighting probes, throughput, TFLite export accuracy)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np

from maskdash import evaluate, settings
from maskdash.classifier import MaskClassifier, TFLiteRunner


def ship_run(run: Path, out: Path) -> dict:
    """Copy the best checkpoint and the run's records; returns training facts."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run / "best.keras", out / "model.keras")
    for name in ("args.json", "history.csv", "skipped.csv"):
        if (run / name).exists():
            shutil.copy2(run / name, out / name)
    started = (run / "args.json").stat().st_mtime
    ended = (run / "history.csv").stat().st_mtime
    facts = {"training_seconds": round(ended - started), "machine": evaluate.machine_description()}
    (out / "training.json").write_text(json.dumps(facts, indent=2))
    return facts


def build_report(model_dir: Path, data_dir: Path | None = None, scenes_dir: Path | None = None,
                 audit_dir: Path | None = None, tflite: bool = False, progress: bool = True) -> dict:
    from maskdash.audit import dedup_test_paths, run_audit
    from maskdash.model import load_model, to_tflite

    data_dir = Path(data_dir or settings.facemask12k_dir())
    scenes_dir = Path(scenes_dir or settings.dev_scenes_dir())
    audit_dir = Path(audit_dir or settings.MODELS_DIR / "audit")
    if not (audit_dir / "test_dedup.txt").exists():
        run_audit(data_dir, audit_dir, progress=progress)
    dedup = dedup_test_paths(audit_dir)

    keras_path = model_dir / "model.keras"
    model = load_model(keras_path)
    # float32 TFLite gives Keras' numbers ~4× faster on a CPU; the file itself is not shipped
    clf = MaskClassifier(TFLiteRunner(to_tflite(model, "none")), keras_path, "keras→tflite-fp32")

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
        evaluate.write_csv(model_dir / "predictions_dev_scenes.csv", evaluate.SCENE_EVAL_COLUMNS, rows)

    args = json.loads((model_dir / "args.json").read_text()) if (model_dir / "args.json").exists() else {}
    doc["recipe"] = args.get("recipe", model_dir.name)
    doc["model"] = str(keras_path.relative_to(settings.PROJECT_ROOT)) if keras_path.is_relative_to(settings.PROJECT_ROOT) else str(keras_path)
    doc["data"] = "facemask12k (Train/Validation/Test) + face-mask-detection-dev"
    doc["generated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    doc.pop("split", None)
    doc.pop("skipped", None)

    if tflite:
        blob = to_tflite(model, "float16")
        (model_dir / "model.tflite").write_bytes(blob)
        fast = MaskClassifier.load(model_dir / "model.tflite")
        loaded = evaluate.data.load_samples(evaluate.data.list_split(data_dir, "Test"), progress=False)
        p16 = fast.predict_batched(loaded.images)
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
    return doc


def _read_p(path: Path):
    import csv

    with open(path) as f:
        for row in csv.DictReader(f):
            yield float(row["p_mask"])


def summary_lines(doc: dict) -> list[str]:
    lines = [f"model: {doc.get('model')}  recipe: {doc.get('recipe')}"]
    for name, m in doc["sets"].items():
        lines.append(evaluate.format_metrics(name, m))
    if "dev_scenes_incorrect" in doc:
        inc = doc["dev_scenes_incorrect"]
        lines.append(f"dev scenes, mask worn incorrectly: n={inc['n']}, called with_mask {100 * (inc['called_with_mask'] or 0):.1f}%")
    probes = doc.get("probes", {})
    for w, r in probes.get("resolution", {}).items():
        lines.append(f"resolution probe {w:>3} px: keeps with_mask {100 * r['with_mask']:.1f}%, without_mask {100 * r['without_mask']:.1f}%")
    for f, r in probes.get("lighting", {}).items():
        lines.append(f"lighting probe ×{f}: accuracy {100 * r['accuracy']:.2f}%")
    if "tflite" in doc:
        t = doc["tflite"]
        lines.append(f"TFLite {t['quantization']} ({t['size_mb']} MB): Test accuracy {100 * t['test_accuracy']:.2f}%, agreement {100 * t['agreement']:.2f}%")
    if "throughput" in doc:
        t = doc["throughput"]
        lines.append(f"throughput ({t.get('backend')}): {t['batch_faces_per_s']} faces/s batched, {t['single_ms']} ms single ({t['machine']})")
    return lines
