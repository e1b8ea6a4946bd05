"""`python -m maskdash …`: every subcommand of the project.

Each subcommand is a parser here and a `_run_<name>` function that imports what it runs only
when it runs, so `--help` answers at once and never starts TensorFlow."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from maskdash import settings
from maskdash.cli_options import check_output, count, os_message, positive_float, positive_int, probability

DETECTOR_NAMES = ("blazeface", "blazeface-full", "yunet", "yunet-multiscale", "yunet-facehead")  # checked against inference.detection in tests
STUDY_NAMES = ("angles", "occluders", "distance", "lighting", "native_size", "below_nose", "hands", "dim_webcam")  # checked against analysis


# -- train ----------------------------------------------------------------------------------------
def _run_train(a: argparse.Namespace) -> int:
    from maskdash.train.config import TrainArgs
    from maskdash.train.loop import train

    dev_scenes = a.dev_scenes
    if dev_scenes is None and a.feed == "online" and not a.data.endswith(".npz"):
        dev_scenes = str(settings.dev_scenes_dir())  # a pack holds its scene faces already
    best = train(TrainArgs(
        data=a.data, recipe=a.recipe, feed=a.feed, out=a.out, epochs=a.epochs, batch_size=a.batch_size,
        lr=a.lr, head_epochs=a.head_epochs, fine_tune_lr=a.fine_tune_lr, cut=a.cut, schedule=a.schedule,
        init=a.init, base_weights=a.base_weights, dev_scenes=dev_scenes, dev_weight=a.dev_weight,
        limit=a.limit, seed=a.seed, views=a.views, cover_p=a.cover_p, distract_p=a.distract_p,
        low_light_p=a.low_light_p, low_light_max=a.low_light_max, grey_p=a.grey_p, preprocess=a.preprocess,
        minutes=a.minutes, workers=a.workers, classes=a.classes, extra_faces=a.extra_faces,
        synth_incorrect=a.synth_incorrect, augment=a.augment, distill=a.distill, twin_targets=a.twin_targets,
    ))
    print(f"best checkpoint: {settings.display_path(best)}")
    return 0


def _add_train(sub) -> None:
    t = sub.add_parser(
        "train", help="train a recipe into a run folder (resumes if interrupted)",
        description="One trainer: --recipe says what is trained (seed: the original; robust: fine-tuned, "
        "against the data set's shortcuts), --feed how the faces reach it (cached: frozen features computed "
        "once, for a CPU; online: fresh augmented views every epoch, for a GPU). Unset options take the "
        "recipe's value for the feed. Rerun the same command to resume an interrupted run.")
    _train_arguments(t, feed=True)
    # kept for the commands already written down (models/robust/MODEL_CARD.md): `train --feed online`
    o = sub.add_parser("train-online", help="the same as `train --feed online`")
    _train_arguments(o, feed=False)


def _train_arguments(t: argparse.ArgumentParser, feed: bool) -> None:
    t.add_argument("--data", default=str(settings.facemask12k_dir()),
                   help="Face Mask 12K-style folder, or a pack (.npz, from `pack`) for the online feed")
    t.add_argument("--recipe", choices=("seed", "robust"), default="robust")
    if feed:
        t.add_argument("--feed", choices=("cached", "online"), default="cached",
                       help="cached: features of the frozen bottom, computed once (CPU); "
                       "online: fresh augmented views every epoch (GPU)")
    else:
        t.set_defaults(feed="online")
    t.add_argument("--out", required=True, help="run folder (rerun to resume)")
    t.add_argument("--epochs", type=positive_int, help="in all (default: the recipe's)")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--lr", type=positive_float, default=1e-3, help="head stage learning rate")
    t.add_argument("--head-epochs", type=count, help="epochs before fine-tuning")
    t.add_argument("--fine-tune-lr", type=positive_float)
    t.add_argument("--cut", help="MobileNetV2 layer above which the base is fine-tuned")
    t.add_argument("--schedule", choices=("plateau", "cosine"))
    t.add_argument("--augment", choices=("seed", "robust", "online"),
                   help="augmentation (default: the recipe's for the feed); online adds objects over unmasked "
                   "mouths and patches elsewhere (--cover-p, --distract-p)")
    t.add_argument("--init", help="start from this .keras model instead of ImageNet")
    t.add_argument("--base-weights", help="MobileNetV2 ImageNet .h5, or a .keras model whose base holds them (default: setting, the file in shared/, the shipped seed model, else Keras download)")
    t.add_argument("--dev-scenes", help="robust: also learn from the train fold of these VOC scenes "
                   "(online feed with a folder: default the dev scenes)")
    t.add_argument("--dev-weight", type=positive_float, default=3.0,
                   help="loss weight of dev-scene faces (each class balanced), relative to data-set images")
    t.add_argument("--classes", type=int, choices=(2, 3), default=2,
                   help="robust: 3 adds mask_incorrect (a mask worn below the nose); seed stays 2")
    t.add_argument("--extra-faces", help="robust: also learn from the train fold of these real faces "
                   "(a folder with index.csv, e.g. ../shared/data/extra-faces); its val fold joins the "
                   "checkpoint choice (online feed from a pack: give it to `pack` instead)")
    t.add_argument("--synth-incorrect", type=count, default=0,
                   help="--classes 3: also learn N Train faces given a mask slid below the nose "
                   "(online feed from a pack: give it to `pack` instead)")
    t.add_argument("--limit", type=positive_int, help="at most N images per class (quick runs)")
    t.add_argument("--seed", type=count, default=1234)
    t.add_argument("--views", type=positive_int, help="cached feed: augmented copies of each training image")
    t.add_argument("--cover-p", type=float, default=0.25,
                   help="online feed: share of unmasked faces given an object over the mouth")
    t.add_argument("--distract-p", type=float, default=0.15, help="online feed: share of faces given a patch elsewhere")
    t.add_argument("--low-light-p", type=float, default=0.15,
                   help="robust/online augmentation: share of views through the dim-webcam camera model")
    t.add_argument("--low-light-max", type=float, default=0.5,
                   help="the brightest of those views: share of a well-lit scene's light (from 0.03 up)")
    t.add_argument("--grey-p", type=probability,
                   help="robust/online augmentation: share of views turned black and white (CCTV, infrared)")
    t.add_argument("--preprocess", choices=("rescale", "stretch"),
                   help="rescale: 0…255 to −1…1 as MobileNetV2 learnt (default for a new model); stretch: each "
                   "face's own brightness and contrast taken out first (with --init: put in front of that model)")
    t.add_argument("--distill", action="store_true",
                   help="cached feed with --init: each view and its dim-webcam twin learn the init model's "
                   "probabilities on the view (robustness to dim light without moving the rest)")
    t.add_argument("--twin-targets", choices=("teacher", "label"),
                   help="with --distill, what the dim twins learn: the clean view's probabilities (teacher, the "
                   "default) or their own labels (label: the clean views keep the init model's answers, as in "
                   "Learning without Forgetting)")
    t.add_argument("--minutes", type=positive_float, help="time budget: no epoch starts that would not end in it")
    t.add_argument("--workers", type=int, default=0, help="online feed: augmentation processes (0: cores − 1)")
    t.set_defaults(fn=_run_train)


# -- pack -----------------------------------------------------------------------------------------
def _run_pack(a: argparse.Namespace) -> int:
    from maskdash.data.pack import build_pack

    info = build_pack(a.data, a.dev_scenes, a.out, max_side=a.max_side, quality=a.quality, limit=a.limit,
                      seed=a.seed, classes=a.classes, extra_faces=a.extra_faces,
                      synth_incorrect=a.synth_incorrect)
    for path, reason in info.pop("skipped"):
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(json.dumps(info, indent=2))
    return 0


def _add_pack(sub) -> None:
    k = sub.add_parser("pack", help="pack the training faces into one small .npz (to train on another machine)")
    k.add_argument("--data", default=str(settings.facemask12k_dir()), help="Face Mask 12K folder (default: the setting)")
    k.add_argument("--dev-scenes", default=str(settings.dev_scenes_dir()), help="VOC scenes folder whose train fold's "
                   "faces are packed (default: the setting)")
    k.add_argument("--out", required=True, help="the .npz file to write")
    k.add_argument("--max-side", type=positive_int, default=120, help="faces shrunk to at most this many px (default 120)")
    k.add_argument("--quality", type=positive_int, default=80, help="JPEG quality of the packed faces (default 80)")
    k.add_argument("--limit", type=positive_int, help="at most N images per class and split (quick runs)")
    k.add_argument("--classes", type=int, choices=(2, 3), default=2,
                   help="3: masks worn below the nose are packed as mask_incorrect (2 leaves them out)")
    k.add_argument("--extra-faces", help="also the extra faces' train fold, and their val fold for the checkpoint "
                   "rule (their holdout is never packed)")
    k.add_argument("--synth-incorrect", type=count, default=0,
                   help="with --classes 3: this many Train faces given a mask slid below the nose")
    k.add_argument("--seed", type=count, default=0, help="random seed (default 0)")
    k.set_defaults(fn=_run_pack)


# -- evaluate -------------------------------------------------------------------------------------
def _run_evaluate(a: argparse.Namespace) -> int:
    from maskdash.data.datasets import list_split
    from maskdash.evaluation import evaluate
    from maskdash.model.runtime import load_classifier

    list_split(a.data, a.split)  # a missing split is named before anything is written to --out
    check_output(a.out, "--out", folder=True)
    clf = load_classifier(a.model)
    dedup = None
    if a.split.lower() == "test" and not a.no_dedup:
        from maskdash.data.audit import dedup_test_paths, run_audit

        audit_dir = Path(a.audit) if a.audit else Path(a.out) / "audit"
        if not (audit_dir / "test_dedup.txt").exists():
            run_audit(a.data, audit_dir)
        dedup = dedup_test_paths(audit_dir)
    doc = evaluate.evaluate_to_dir(clf, Path(a.data), a.split, Path(a.out), dedup=dedup,
                                   threshold=a.threshold, probes=a.probes)
    for name, m in doc["sets"].items():
        print(evaluate.format_metrics(name, m))
    for s in doc["skipped"]:
        print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    print(f"wrote {a.out}/metrics.json")
    return 0


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="metrics, confusion matrix and predictions for one split")
    e.add_argument("--data", default=str(settings.facemask12k_dir()), help="Face Mask 12K folder (default: the setting)")
    e.add_argument("--split", default="Test", help="the split folder to measure (default Test)")
    e.add_argument("--model", help="a .keras or .tflite file (default: MASKDASH_MODEL, else the shipped model)")
    e.add_argument("--out", required=True, help="folder for metrics.json, the confusion matrices and predictions")
    e.add_argument("--threshold", type=probability, default=0.5, help="p(with_mask) from which a face is masked (default 0.5)")
    e.add_argument("--probes", action="store_true", help="also run the resolution, lighting and dim-webcam probes")
    e.add_argument("--audit", help="folder of an earlier `audit` (for the de-duplicated Test split)")
    e.add_argument("--no-dedup", action="store_true", help="leave out the de-duplicated Test figures (no audit)")
    e.set_defaults(fn=_run_evaluate)


# -- validate -------------------------------------------------------------------------------------
def _run_validate(a: argparse.Namespace) -> int:
    from maskdash.evaluation.validation import format_figures, validation_figures
    from maskdash.files import write_json_atomic
    from maskdash.model.runtime import load_classifier

    check_output(a.json, "--json")
    if not a.no_extra and not (Path(a.extra_faces) / "index.csv").is_file():
        raise FileNotFoundError(f"--extra-faces {a.extra_faces} has no index.csv (give the extra faces folder, "
                                "or --no-extra to leave them out)")
    clf = load_classifier(a.model)
    extra = None if a.no_extra else a.extra_faces
    doc = validation_figures(clf, a.data, extra, threshold=a.threshold, limit=a.limit, dim=not a.no_dim)
    print(format_figures(doc))
    for s in doc.get("skipped", []) + doc.get("extra_val", {}).get("skipped", []):
        print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    if a.json:
        write_json_atomic(a.json, doc)
        print(f"wrote {a.json}")
    return 0


def _add_validate(sub) -> None:
    v = sub.add_parser("validate", help="the figures a ship rule is written in, from validation data only "
                       "(Validation split, extra faces' val fold, drawn occluders, dim-webcam probe)")
    v.add_argument("--model", help="a .keras or .tflite file (default: MASKDASH_MODEL, else the shipped model)")
    v.add_argument("--data", default=str(settings.facemask12k_dir()))
    v.add_argument("--extra-faces", default=str(settings.extra_faces_dir()))
    v.add_argument("--no-extra", action="store_true", help="leave the extra faces out")
    v.add_argument("--no-dim", action="store_true", help="leave the dim-webcam probe out (faster)")
    v.add_argument("--threshold", type=probability, default=0.5)
    v.add_argument("--limit", type=positive_int, help="the first N faces of each set only (a quick look, not a verdict)")
    v.add_argument("--json", help="also write the figures to this JSON file")
    v.set_defaults(fn=_run_validate)


# -- train-detector -------------------------------------------------------------------------------
def _run_train_detector(a: argparse.Namespace) -> int:
    from maskdash.train.facehead import DetectorArgs, train

    if a.ship:
        from maskdash.train.facehead import ship

        print(f"shipped: {settings.display_path(ship(a.out, a.ship))}")
        return 0
    out = train(DetectorArgs(out=a.out, scenes=a.scenes or "", epochs=a.epochs, lr=a.lr, variants=a.variants, zoom=a.zoom,
                             paste=a.paste, extra_faces=a.extra_faces or "", seed=a.seed, limit=a.limit,
                             base_weights=a.base_weights or ""))
    print(f"face head trained: {settings.display_path(out)} (ship it: --out {settings.display_path(out)} "
          "--ship models/facehead)")
    return 0


def _add_train_detector(sub) -> None:
    t = sub.add_parser("train-detector", help="train the photo pipeline's face head on the dev scenes' train fold")
    t.add_argument("--out", default="runs/facehead", help="run folder")
    t.add_argument("--scenes", help="VOC scenes folder (default: the dev scenes setting); its train fold only")
    t.add_argument("--epochs", type=positive_int, default=24)
    t.add_argument("--lr", type=positive_float, default=2e-3)
    t.add_argument("--variants", type=count, default=2, help="augmented copies of each photo, beside it and its mirror image")
    t.add_argument("--zoom", type=count, default=0, help="copies of each photo enlarged 1.3–2× and cut to the input "
                   "(larger faces than the photos hold)")
    t.add_argument("--paste", type=count, default=0, help="copies of each photo with real faces of the extra faces' train "
                   "fold pasted in at 32–160 px (large masked and turned faces the photos lack)")
    t.add_argument("--extra-faces", help="extra-faces folder for --paste (default: the extra faces setting)")
    t.add_argument("--seed", type=count, default=0)
    t.add_argument("--limit", type=positive_int, help="at most N photos per sub-fold (quick runs)")
    t.add_argument("--base-weights", help="MobileNetV2 ImageNet .h5, or a .keras model whose base holds them")
    t.add_argument("--ship", metavar="DIR", help="do not train: copy the finished run --out into DIR (models/facehead) "
                   "and write its model card from the scenes_*.json files there")
    t.set_defaults(fn=_run_train_detector)


# -- scenes ---------------------------------------------------------------------------------------
def _run_scenes(a: argparse.Namespace) -> int:
    from maskdash.evaluation.scenes import evaluate_pipeline, fold_scenes, format_report
    from maskdash.files import write_json_atomic
    from maskdash.inference.detection import default_photo_detector, make_detector

    check_output(a.json, "--json")
    if not 1.0 <= a.enlarge <= 10.0:
        raise ValueError(f"--enlarge must be between 1 and 10, got {a.enlarge:g}")
    detector = make_detector(a.detector or default_photo_detector())
    if a.pasted:  # large real faces pasted into the val photos (validation data only; detection only)
        from maskdash.evaluation.paste_probe import format_probe, run_probe

        doc = run_probe(detector, a.scenes, a.extra_faces, limit=a.limit)
        print(format_probe(doc))
        if a.json:
            write_json_atomic(a.json, doc)
        return 0
    clf = None
    if not a.no_classifier:
        from maskdash.model.runtime import load_classifier

        clf = load_classifier(a.model)
    skipped: list[str] = []
    scenes = fold_scenes(a.scenes, a.fold, a.limit, skipped)
    if a.subfold:  # the face head's own split of the train fold (maskdash.train.facehead)
        from maskdash.train.facehead import sub_fold

        if a.fold != "train":
            raise ValueError("--subfold splits the train fold; give --fold train")
        scenes = [s for s in scenes if sub_fold(s.image_path) == a.subfold]
    if not scenes:
        raise ValueError(f"no labelled photos in the {a.fold} fold of {a.scenes}"
                         + (f" ({len(skipped)} annotation(s) unusable, e.g. {skipped[0]})" if skipped else ""))
    doc = evaluate_pipeline(detector, clf, scenes, enlarge=a.enlarge)
    doc["fold"] = a.fold + (f"/{a.subfold}" if a.subfold else "")
    if skipped:  # annotations that could not be used, beside the photos that could not be read
        doc["skipped"] = skipped + doc.get("skipped", [])
    print(format_report(doc))
    for line in doc.get("skipped", []):
        print(f"skipped {line}", file=sys.stderr)
    if a.json:
        write_json_atomic(a.json, doc)
        print(f"wrote {a.json}")
    return 0


def _add_scenes(sub) -> None:
    s = sub.add_parser("scenes", help="the whole photo pipeline on the dev scenes: faces found and labelled "
                       "right, recall by face height, false positives per image")
    s.add_argument("--scenes", default=str(settings.dev_scenes_dir()), help="VOC scenes folder")
    s.add_argument("--fold", default="train", choices=("train", "holdout", "all"),
                   help="choose settings on train; measure holdout once")
    s.add_argument("--subfold", choices=("fit", "val"),
                   help="only the train fold's photos the face head trained on (fit) or chose its settings on (val)")
    s.add_argument("--detector", help="default: the photo detector")
    s.add_argument("--model", help="classifier (default: MASKDASH_MODEL, else the shipped model)")
    s.add_argument("--no-classifier", action="store_true", help="detection only (faster)")
    s.add_argument("--pasted", action="store_true", help="instead: the extra faces' val fold pasted into the face "
                   "head's val photos at 40–100 px, found or not (large faces; maskdash.evaluation.paste_probe)")
    s.add_argument("--extra-faces", default=str(settings.extra_faces_dir()), help="with --pasted")
    s.add_argument("--enlarge", type=float, default=1.0, help="each photo enlarged this much first (1–10; the dev "
                   "photos are 400 px long, users' photos often larger); face heights stay in the labelled photo's pixels")
    s.add_argument("--limit", type=positive_int, help="the first N photos only (quick looks)")
    s.add_argument("--json", help="also write the figures to this JSON file")
    s.set_defaults(fn=_run_scenes)


# -- predict --------------------------------------------------------------------------------------
def _run_predict(a: argparse.Namespace) -> int:
    import time

    from maskdash.inference import batch

    if a.engine == "ray" and a.annotate:
        print("error: --annotate works with the local engine only", file=sys.stderr)
        return 2
    if a.blur and not a.annotate:
        print("error: --blur applies to the annotated copies; give --annotate DIR", file=sys.stderr)
        return 2
    ray_only = [f"--{k.replace('_', '-')}" for k in ("address", "workers", "block_size", "fresh") if getattr(a, k)]
    if a.engine == "local" and ray_only:
        print(f"error: {', '.join(ray_only)} only apply to --engine ray", file=sys.stderr)
        return 2
    start = time.perf_counter()
    out, annotate = Path(a.csv), Path(a.annotate) if a.annotate else None
    paths, skipped = batch.gather(a.inputs, exclude=frozenset({batch.resolved(annotate)} if annotate else ()))
    problem = batch.output_problem(a.inputs, out, annotate, paths)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for path, reason in skipped:
        print(f"skipped {batch.shown(path)}: {reason}", file=sys.stderr)
    if not paths:
        print("no input images found", file=sys.stderr)
        return 2
    opts = batch.options(a.crops, a.threshold, a.det_threshold, a.model, a.detector)
    try:
        if a.engine == "ray":
            from maskdash.inference.scale import predict_ray

            tally, processed, workers = predict_ray(paths, opts, out, workers=a.workers, address=a.address,
                                                    block_size=a.block_size, fresh=a.fresh)
        else:
            tally = batch.predict_local(paths, opts, out, annotate, blur=a.blur)
            processed, workers = len(paths), 1
        doc = batch.summary(tally, skipped, engine=a.engine, workers=workers,
                            seconds=time.perf_counter() - start, processed=processed, opts=opts)
        summary = batch.write_summary(out, doc)
    except batch.WriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if tally.black_and_white:
        from maskdash.inference.photos import black_and_white_note, shipped_metrics

        n = tally.black_and_white
        print(black_and_white_note(shipped_metrics(), f"{n} of the images {'is' if n == 1 else 'are'} black and white"),
              file=sys.stderr)
    print(f"summary in {batch.shown(summary)} ({doc['images_per_second']} images/s)", file=sys.stderr)
    left_out = tally.images - tally.images_ok + len(skipped)
    print(f"wrote {tally.faces} rows for {tally.images_ok} images to {batch.shown(out)}"
          + (f"; {left_out} skipped (reasons above)" if left_out else ""))
    return 0 if tally.images_ok else 1


def _add_predict(sub) -> None:
    r = sub.add_parser("predict", help="classify photos (faces detected first) or face crops",
                       description="Rows for every face, in the order of the inputs. --engine ray spreads the "
                       "files over a Ray cluster (local by default) in blocks saved as they finish: rerun the "
                       "same command after a crash to resume. A summary JSON is written beside the CSV.")
    r.add_argument("inputs", nargs="+", help="image files, folders (recursive) or path lists (.txt/.lst/.list: "
                   "one path per line, relative to the list's folder)")
    r.add_argument("--csv", required=True, help="the CSV to write (a row per face; a summary JSON beside it)")
    r.add_argument("--crops", action="store_true", help="each image is one face")
    r.add_argument("--model", help="a .keras or .tflite file (default: MASKDASH_MODEL, else the shipped model)")
    r.add_argument("--detector", help=f"{', '.join(DETECTOR_NAMES)} (default: the best available)")
    r.add_argument("--annotate", help="folder for annotated copies, each face numbered as its CSV row's `face` "
                   "(local engine; never written over an input photo)")
    r.add_argument("--blur", action="store_true", help="pixelate the faces in the annotated copies (boxes, numbers "
                   "and labels kept); the CSV holds no image data either way")
    r.add_argument("--threshold", type=probability, default=0.5, help="p_mask at or above which a face is with_mask")
    r.add_argument("--det-threshold", type=probability, help="detector score (0–1) a face needs (default: the detector's own)")
    r.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: Ray Data workers, resumable (needs requirements-scale.txt)")
    r.add_argument("--address", help="ray: a running cluster (ray://host:10001, or auto); default: a local Ray")
    r.add_argument("--workers", type=positive_int, help="ray: workers, each with the models loaded once "
                   "(default: the CPUs of the machine or cluster)")
    r.add_argument("--block-size", type=positive_int, help="ray: files per block, the unit saved and resumed (default 64)")
    r.add_argument("--fresh", action="store_true", help="ray: discard the saved blocks of an earlier run first")
    r.set_defaults(fn=_run_predict)


# -- audit, export, report ------------------------------------------------------------------------
def _run_audit(a: argparse.Namespace) -> int:
    from maskdash.data.audit import run_audit

    summary = run_audit(a.data, a.out, near_threshold=a.near_threshold)
    print(json.dumps(summary.get("summary", summary), indent=2))
    return 0


def _run_export(a: argparse.Namespace) -> int:
    from maskdash.model.runtime import load_keras, to_tflite

    from maskdash.files import write_atomic

    src = Path(a.model) if a.model else settings.shipped_model_path()
    out = Path(a.out) if a.out else src.with_suffix(".tflite")
    check_output(str(out), "--out")
    blob = to_tflite(load_keras(src), a.quantize)
    write_atomic(out, lambda tmp: tmp.write_bytes(blob))
    print(f"wrote {out} ({len(blob) / 1e6:.1f} MB, {a.quantize})")
    if a.check_data:
        from maskdash.data import datasets
        from maskdash.evaluation import evaluate
        from maskdash.model.runtime import load_classifier

        loaded = datasets.load_samples(datasets.list_split(a.check_data, "Test"))
        if not len(loaded.images):
            raise ValueError(f"--check-data {a.check_data}: no readable images in its Test split")
        m = evaluate.metrics(loaded.labels, load_classifier(out).predict_batched(loaded.images))
        print(evaluate.format_metrics("Test (exported)", m))
    return 0


def _run_report(a: argparse.Namespace) -> int:
    from maskdash.evaluation.report import build_report, ship_run, summary_lines

    check_output(a.out, "--out", folder=True)
    out = Path(a.out)
    if a.run:
        ship_run(Path(a.run), out)
    doc = build_report(out, Path(a.data) if a.data else None, tflite=a.tflite)
    print("\n".join(summary_lines(doc)))
    return 0


def _add_audit_export_report(sub) -> None:
    u = sub.add_parser("audit", help="exact and near-duplicate images within and across splits")
    u.add_argument("--data", default=str(settings.facemask12k_dir()), help="Face Mask 12K folder (default: the setting)")
    u.add_argument("--out", default=str(settings.MODELS_DIR / "audit"), help="output folder (default: models/audit, "
                   "which `evaluate` and `report` read)")
    u.add_argument("--near-threshold", type=count, default=4, help="perceptual-hash bits within which two images are "
                   "near-duplicates (default 4)")
    u.set_defaults(fn=_run_audit)

    x = sub.add_parser("export", help="export a Keras model to TFLite")
    x.add_argument("--format", choices=("tflite",), default="tflite")
    x.add_argument("--model", help="the .keras file (default: the shipped models/robust/model.keras)")
    x.add_argument("--out", help="the .tflite to write (default: beside the model, same name; replaces it)")
    x.add_argument("--quantize", choices=("float16", "dynamic", "none"), default="float16",
                   help="weights as float16 (default), int8 ('dynamic') or float32 ('none')")
    x.add_argument("--check-data", help="measure the exported model's accuracy on this folder's Test split")
    x.set_defaults(fn=_run_export)

    rp = sub.add_parser("report", help="full report of a trained model into its models/ folder")
    rp.add_argument("--out", default=str(settings.shipped_model_dir("robust")),
                    help="the model folder reported on (default: models/robust, the shipped model; its files are replaced)")
    rp.add_argument("--run", help="copy best checkpoint and records from this run folder first (checked before copying)")
    rp.add_argument("--data", help="Face Mask 12K folder (default: the setting)")
    rp.add_argument("--tflite", action="store_true", help="also export and measure model.tflite (float16)")
    rp.set_defaults(fn=_run_report)


# -- analyze --------------------------------------------------------------------------------------
def _run_analyze(a: argparse.Namespace) -> int:
    from maskdash.analysis.run import cmd_analyze

    return cmd_analyze(a)


def _add_analyze(sub) -> None:
    a = sub.add_parser(
        "analyze", aliases=["analyse"],
        help="failure studies (angles, objects over the mouth, distance, lighting, masks below the nose, real "
             "hands, dim webcam) → models/analysis/<model>/",
        description="Measure the original app's reported failures on real faces, for each model given.",
    )
    a.add_argument("models", nargs="*", default=["robust", "seed"],
                   help="recipes (robust, seed), model folders or .keras/.tflite files (default: robust seed)")
    a.add_argument("--data", default=str(settings.data_dir()),
                   help="data folder holding facemask12k/ and face-mask-detection-dev/ (or the facemask12k folder)")
    a.add_argument("--out", help="results root; each model writes <out>/<name>/ (default: models/analysis)")
    a.add_argument("--studies", default=",".join(STUDY_NAMES), help=f"comma-separated subset of: {', '.join(STUDY_NAMES)} (default: all)")
    a.add_argument("--add", action="store_true",
                   help="replace only these studies' results and keep the folder's others (same model, seed and "
                        "threshold); without it a run replaces the whole folder")
    a.add_argument("--limit", type=positive_int, default=300, help="faces per study (Test: half per class)")
    a.add_argument("--sweep-limit", type=positive_int, default=160, help="faces per distance/lighting condition")
    a.add_argument("--seed", type=count, default=0, help="seed of the faces drawn for the studies (default 0)")
    a.add_argument("--detector", default="blazeface", help="face detector for the landmarks (blazeface keeps the ears)")
    a.add_argument("--engine", choices=("tflite", "keras"), default="tflite",
                   help="run .keras models on LiteRT after a float32 conversion (faster) or on Keras")
    a.set_defaults(fn=_run_analyze)


# -- bench ----------------------------------------------------------------------------------------
def _run_bench_live(a: argparse.Namespace) -> int:
    from maskdash.inference.bench import run_bench_live

    return run_bench_live(a)


def _run_bench_runtime(a: argparse.Namespace) -> int:
    from maskdash.model.speed import format_runtime, runtime_latency

    doc = runtime_latency(a.model, threads=a.threads)
    print(json.dumps(doc) if a.json else format_runtime(doc))
    return 0


def _run_bench_photos(a: argparse.Namespace) -> int:
    from maskdash.inference.bench_photos import run_bench_photos

    return run_bench_photos(a)


def _run_bench_predict(a: argparse.Namespace) -> int:
    from maskdash.inference.bench_predict import run_bench_predict

    return run_bench_predict(a)


def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="speed benchmarks")
    which = bench.add_subparsers(dest="bench_command", required=True)
    live = which.add_parser("live", help="frames/s and per-stage latency of the live pipeline")
    live.add_argument("--video", help="a recorded video (default: a generated stream of real test faces)")
    live.add_argument("--detector", choices=DETECTOR_NAMES, default="blazeface")
    live.add_argument("--frames", type=positive_int, default=300, help="frames timed per run (default 300)")
    live.add_argument("--faces", default="1,5", help="faces in view for the generated stream, e.g. 1,5")
    live.add_argument("--model", help="classifier .tflite/.keras (default: MASKDASH_MODEL, else the shipped model)")
    live.add_argument("--budget", type=count, default=2,
                      help="classify at most N faces per frame, 0 for all (default: 2, as live)")
    live.add_argument("--data", help="Face Mask 12K folder (default: the setting)")
    live.add_argument("--json", action="store_true", help="print one JSON object (first key: fps)")
    live.add_argument("--browser", action="store_true",
                      help="also the Live page's camera-to-screen latency in headless Chromium: one viewer alone, "
                           "one with two busy loops, three viewers (needs chromium and playwright; a few minutes)")
    live.add_argument("--browser-seconds", type=float, default=20.0, help="seconds measured per condition")
    live.set_defaults(fn=_run_bench_live)
    rt = which.add_parser("runtime", help="single-face latency and batched throughput of a .tflite on LiteRT and tf.lite")
    rt.add_argument("--model", help="a .tflite file (default: the shipped model)")
    rt.add_argument("--threads", type=positive_int, default=1, help="interpreter threads (the live path uses 1)")
    rt.add_argument("--json", action="store_true")
    rt.set_defaults(fn=_run_bench_runtime)
    ph = which.add_parser("photos", help="seconds per photo by stage (decode, detect, crop, classify, draw): "
                          "dev holdout photos and a 1280 px and a 4000 px photo")
    ph.add_argument("--detector", choices=DETECTOR_NAMES, help="default: the Photos page's detector")
    ph.add_argument("--model", help="classifier (default: MASKDASH_MODEL, else the shipped model)")
    ph.add_argument("--scenes", help="VOC scenes folder (default: the dev scenes setting)")
    ph.add_argument("--sample", type=positive_int, default=20, help="dev holdout photos timed (default 20)")
    ph.add_argument("--repeats", type=positive_int, default=3, help="runs per photo; medians are reported (default 3)")
    ph.add_argument("--json", action="store_true", help="print one JSON object")
    ph.set_defaults(fn=_run_bench_photos)
    pr = which.add_parser("predict", help="the whole predict command: the local engine against Ray with N workers "
                          "(interleaved rounds, medians; Ray needs requirements-scale.txt)")
    pr.add_argument("inputs", nargs="+", help="what predict reads (photos, folders, path lists)")
    pr.add_argument("--workers", default="1,2", help="Ray worker counts to time, e.g. 1,2")
    pr.add_argument("--rounds", type=positive_int, default=3, help="runs of each configuration (default 3)")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.set_defaults(fn=_run_bench_predict)


# -- the command line -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m maskdash", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_train_detector, _add_pack, _add_evaluate, _add_validate, _add_scenes, _add_predict, _add_audit_export_report, _add_analyze, _add_bench):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (FileNotFoundError, ValueError) as exc:  # bad paths, bad model files (ModelFileError), …
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder where a file belongs, no permission, a full disk, …
        print(f"error: {os_message(exc)}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. no face detector can be had here (offline, no YuNet file)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a user sees one line, not a traceback; MASKDASH_DEBUG=1 shows it
        if os.environ.get("MASKDASH_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {exc} (this is a bug; MASKDASH_DEBUG=1 shows where)", file=sys.stderr)
        return 1
