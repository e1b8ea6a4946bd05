"""Command-line round trips with the shipped model on real images: the columns other tools read,
labels that agree with p_mask, bad files reported without stopping the run."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskdash import imaging, labels
from maskdash.cli import main
from maskdash.data import datasets

ROOT = Path(__file__).resolve().parent.parent
# p_incorrect (three-class models) came last, so that readers of older files keep their columns.
CROP_COLUMNS = ["path", "label", "p_mask", "p_incorrect"]
SCENE_COLUMNS = ["path", "face", "x1", "y1", "x2", "y2", "det_score", "label", "p_mask", "p_incorrect"]


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def test_faces(fm12k, shipped_model) -> dict[str, list[Path]]:
    """Six Test faces per class (every 80th file, so not hand-picked)."""
    out = {}
    for cls in labels.CLASSES:
        paths = [s.path for s in datasets.list_split(fm12k, "Test") if labels.CLASSES[s.label] == cls]
        out[cls] = paths[::80][:6]
    return out


def test_predict_crops_columns_and_labels(tmp_path, test_faces, capsys):
    folder = tmp_path / "crops"
    for cls, paths in test_faces.items():
        (folder / cls).mkdir(parents=True)
        for p in paths:
            shutil.copy(p, folder / cls / p.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "crops.csv"
    assert main(["predict", str(folder), "--csv", str(out), "--crops"]) == 0
    assert "broken.jpg" in capsys.readouterr().err  # reported, and the others still classified
    columns, rows = read_csv(out)
    assert columns == CROP_COLUMNS
    assert len(rows) == 12
    correct = 0
    for r in rows:
        p = float(r["p_mask"])
        assert 0.0 <= p <= 1.0
        assert r["label"] == ("with_mask" if p >= 0.5 else "without_mask")
        assert 0 <= float(r["p_incorrect"]) <= 1 - float(r["p_mask"]) + 1e-4  # the shipped model has three classes
        correct += r["label"] == Path(r["path"]).parent.name
    assert correct >= 11, rows


def test_predict_scene_columns_boxes_and_annotation(tmp_path, dev_scenes, shipped_model, capsys):
    scenes, _ = datasets.list_scenes(dev_scenes)
    # a holdout photo with a clearly visible face of each class
    pick = next(s for s in scenes if datasets.scene_fold(s.image_path) == "holdout"
                and {b.label for b in s.boxes if b.height >= 40} >= {"with_mask", "without_mask"})
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 200, np.uint8)).save(blank)
    out, ann = tmp_path / "faces.csv", tmp_path / "annotated"
    assert main(["predict", str(pick.image_path), str(blank), "--csv", str(out),
                 "--annotate", str(ann), "--detector", "blazeface-full"]) == 0
    assert "no face found" in capsys.readouterr().err  # the blank image
    columns, rows = read_csv(out)
    assert columns == SCENE_COLUMNS
    assert rows and {r["path"] for r in rows} == {str(pick.image_path)}
    w, h = Image.open(pick.image_path).size
    for r in rows:
        x1, y1, x2, y2 = (int(float(r[k])) for k in ("x1", "y1", "x2", "y2"))
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert 0 < float(r["det_score"]) <= 1
        assert r["label"] == ("with_mask" if float(r["p_mask"]) >= 0.5 else "without_mask")
        assert 0 <= float(r["p_incorrect"]) <= 1 - float(r["p_mask"]) + 1e-4
    assert sorted(int(r["face"]) for r in rows) == list(range(len(rows)))
    annotated = Image.open(ann / f"{pick.image_path.stem}.jpg")
    assert annotated.size == (w, h)


def test_annotated_copies_never_take_an_input_photos_name(tmp_path):
    from maskdash.inference.batch import annotation_path

    a, b = tmp_path / "a", tmp_path / "b"
    inputs = {(a / "img.jpg").resolve(), (b / "img.jpg").resolve(), (a / "other.png").resolve()}
    taken: set[Path] = set()
    names = []
    for src in (a / "img.jpg", b / "img.jpg", a / "other.png"):
        target = annotation_path(a, src, inputs, taken)
        taken.add(target.resolve())
        names.append(target.name)
    assert names == ["img-annotated.jpg", "img-annotated-2.jpg", "other.jpg"]
    assert annotation_path(tmp_path / "out", a / "img.jpg", inputs, set()).name == "img.jpg"


def test_predict_annotated_copies_never_cost_a_photo_nor_count_twice(tmp_path, dev_scenes, shipped_model, capsys):
    scenes, _ = datasets.list_scenes(dev_scenes)
    pick = [s for s in scenes if datasets.scene_fold(s.image_path) == "holdout" and len(s.boxes) >= 3][:2]
    for folder, scene in zip(("a", "b"), pick):
        (tmp_path / folder).mkdir()
        shutil.copy(scene.image_path, tmp_path / folder / "img.png")  # same name in two folders
    before = (tmp_path / "a" / "img.png").read_bytes()
    out = tmp_path / "faces.csv"
    args = ["predict", str(tmp_path / "a"), str(tmp_path / "b"), "--csv", str(out), "--detector", "blazeface-full"]
    # into an input folder: the next run would read the copies as photos, so refused before any work
    assert main([*args, "--annotate", str(tmp_path / "a")]) == 2
    assert "is an input folder" in capsys.readouterr().err
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"img.png"} and not out.exists()
    # into a subfolder of an input: two copies of two img.png, and a rerun reads only the photos
    ann = tmp_path / "a" / "annotated"
    assert main([*args, "--annotate", str(ann)]) == 0
    assert {p.name for p in ann.iterdir()} == {"img.jpg", "img-annotated.jpg"}
    first = read_csv(out)[1]
    capsys.readouterr()
    assert main([*args, "--annotate", str(ann)]) == 0
    assert "annotated copies' folder" in capsys.readouterr().err
    assert read_csv(out)[1] == first and {p.name for p in ann.iterdir()} == {"img.jpg", "img-annotated.jpg"}
    assert (tmp_path / "a" / "img.png").read_bytes() == before
    assert json.loads(out.with_name("faces.summary.json").read_text())["images"] == 2


def test_predict_refuses_a_csv_that_is_an_input_photo(tmp_path, test_faces, capsys):
    photo = tmp_path / "victim.jpg"
    shutil.copy(test_faces["with_mask"][0], photo)
    before = photo.read_bytes()
    for csv_name in ("victim.jpg", "victim.summary.json"):
        (tmp_path / "victim.summary.json").write_bytes(before) if csv_name.endswith(".json") else None
        inputs = [str(photo)] + ([str(tmp_path / "victim.summary.json")] if csv_name.endswith(".json") else [])
        assert main(["predict", *inputs, "--csv", str(tmp_path / "victim.jpg"), "--crops"]) == 2
        assert "would overwrite the input" in capsys.readouterr().err
        assert photo.read_bytes() == before


@pytest.mark.parametrize("flag", ["--threshold", "--det-threshold"])
@pytest.mark.parametrize("value", ["1.5", "-3", "nan", "high"])
def test_thresholds_outside_0_to_1_are_refused_before_any_work(tmp_path, flag, value, capsys):
    photo = tmp_path / "x.jpg"
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(photo), "--csv", str(tmp_path / "x.csv"), flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and ("between 0 and 1" in err or "not a number" in err)
    assert not (tmp_path / "x.csv").exists()


def test_predict_blur_pixelates_the_faces_and_leaves_the_rest(tmp_path, dev_scenes, shipped_model, capsys):
    scenes, _ = datasets.list_scenes(dev_scenes)
    pick = next(s for s in scenes if datasets.scene_fold(s.image_path) == "holdout"
                and sum(b.height >= 30 for b in s.boxes) >= 2)
    copies = {}
    for mode in ([], ["--blur"]):
        folder = tmp_path / ("blurred" if mode else "plain")
        assert main(["predict", str(pick.image_path), "--csv", str(folder / "faces.csv"), "--annotate", str(folder),
                     "--detector", "blazeface-full", *mode]) == 0
        copies[bool(mode)] = np.asarray(Image.open(folder / f"{pick.image_path.stem}.jpg").convert("L"), np.float32)
    _, rows = read_csv(tmp_path / "blurred" / "faces.csv")
    assert rows and rows == read_csv(tmp_path / "plain" / "faces.csv")[1]  # the CSV does not change
    diff = np.abs(copies[True] - copies[False])
    near = np.zeros(diff.shape, bool)  # boxes and the labels beside them
    changed = []
    for r in rows:
        x1, y1, x2, y2 = (int(float(r[k])) for k in ("x1", "y1", "x2", "y2"))
        near[max(0, y1 - 40):y2 + 40, max(0, x1 - 60):x2 + 60] = True
        if y2 - y1 >= 20:
            changed.append(diff[y1 + 4:y2 - 4, x1 + 4:x2 - 4].mean())
    assert changed and min(changed) > 4  # each face's pixels pixelated
    assert diff[~near].mean() < 1.5  # elsewhere only JPEG's noise
    capsys.readouterr()
    assert main(["predict", str(pick.image_path), "--csv", str(tmp_path / "x.csv"), "--blur"]) == 2
    assert "--blur applies to the annotated copies" in capsys.readouterr().err


def test_evaluate_writes_metrics_confusion_and_predictions(tmp_path, test_faces):
    root = tmp_path / "tiny"
    for cls, folder in (("with_mask", "WithMask"), ("without_mask", "WithoutMask")):
        (root / "Test" / folder).mkdir(parents=True)
        for p in test_faces[cls]:
            shutil.copy(p, root / "Test" / folder / p.name)
    (root / "Test" / "WithMask" / "empty.png").write_bytes(b"")
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(root), "--split", "Test", "--no-dedup", "--out", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    m = doc["sets"]["test"]
    assert m["n"] == 12
    for key in ("accuracy", "precision", "recall", "roc_auc", "ece", "confusion"):
        assert key in m
    assert set(m["recall"]) == {"with_mask", "without_mask"}
    assert m["accuracy"] >= 11 / 12
    assert sum(map(sum, m["confusion"])) == 12
    assert any("empty.png" in s["path"] for s in doc["skipped"])
    columns, rows = read_csv(out / "predictions_test.csv")
    assert {"path", "label", "p_mask"} <= set(columns) and len(rows) == 12


def test_evaluate_names_a_missing_split_before_writing(tmp_path, capsys):
    (tmp_path / "data" / "Train").mkdir(parents=True)
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(tmp_path / "data"), "--split", "Test", "--out", str(out)]) == 2
    assert "no split folder 'Test'" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_detector_is_a_clear_error_not_a_traceback(tmp_path, test_faces):
    proc = subprocess.run(
        [sys.executable, "-m", "maskdash", "predict", str(test_faces["with_mask"][0]),
         "--csv", str(tmp_path / "x.csv"), "--detector", "no-such-detector"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "no-such-detector" in proc.stderr


def test_help_answers_without_tensorflow():
    """`python -m maskdash --help` (and each subcommand's) starts no TensorFlow, Keras or Streamlit."""
    code = ("import sys, contextlib, io\n"
            "from maskdash import cli\n"
            "for argv in (['--help'], ['train', '--help'], ['scenes', '--help'], ['validate', '--help'], ['predict', '--help'], ['analyze', '--help'], ['bench', 'live', '--help']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try: cli.main(argv)\n"
            "        except SystemExit: pass\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'streamlit', 'jax') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_cli_names_match_the_modules():
    from maskdash import cli
    from maskdash.analysis.studies import STUDIES
    from maskdash.inference.detection import DETECTORS

    assert cli.DETECTOR_NAMES == DETECTORS
    assert cli.STUDY_NAMES == STUDIES


def test_predict_goes_on_past_odd_names_and_unreadable_files(tmp_path, test_faces, capsys, monkeypatch):
    """A name that is not UTF-8 is classified and written escaped; an unreadable file is listed
    with its reason; neither stops the batch, which ends with its summary line."""
    folder = tmp_path / "batch"
    folder.mkdir()
    odd = folder / os.fsdecode(b"caf\xe9_\xff.jpg")  # Latin-1 bytes: not UTF-8
    shutil.copy(test_faces["with_mask"][0], odd)
    shutil.copy(test_faces["without_mask"][0], folder / "plain.jpg")
    locked = folder / "locked.jpg"
    shutil.copy(test_faces["with_mask"][1], locked)
    locked.chmod(0)
    if os.geteuid() == 0:  # root opens any file: fail its opening as it fails for everyone else
        real_open = open

        def open_as_a_user(file, *args, **kwargs):
            if os.fspath(file) == os.fspath(locked):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(imaging, "open", open_as_a_user, raising=False)
    for mode in (["--crops"], ["--detector", "blazeface", "--annotate", str(tmp_path / "annotated")]):
        out = tmp_path / "out.csv"
        assert main(["predict", str(folder), "--csv", str(out), *mode]) == 0
        printed = capsys.readouterr()
        assert f"skipped {locked}: cannot read file: Permission denied" in printed.err
        assert printed.out.startswith("wrote ") and printed.out.rstrip().endswith("; 1 skipped (reasons above)")
        assert "for 2 images" in printed.out
        _, rows = read_csv(out)  # UTF-8 throughout
        shown = [str(folder / "caf\\xe9_\\xff.jpg"), str(folder / "plain.jpg")]
        if mode == ["--crops"]:
            assert [r["path"] for r in rows] == shown
        for name in shown:  # scene mode: each photo has its faces' rows or a "no face" line
            assert name in {r["path"] for r in rows} or f"no face found in {name}" in printed.err
    assert (tmp_path / "annotated" / f"{odd.stem}.jpg").is_file()


def test_predict_crops_refuses_what_cannot_be_a_face(tmp_path, test_faces, capsys):
    """The classifier answers anything (1×1 px: with_mask 0.51, all black: 0.9996, transparent:
    0.976); such files are skipped with the reason instead."""
    folder = tmp_path / "crops"
    folder.mkdir()
    shutil.copy(test_faces["without_mask"][0], folder / "face.jpg")
    Image.new("RGB", (1, 1), (200, 150, 120)).save(folder / "one_pixel.png")
    Image.new("RGB", (224, 224)).save(folder / "black.jpg")
    Image.new("RGBA", (120, 120), (0, 0, 0, 0)).save(folder / "transparent.png")
    out = tmp_path / "crops.csv"
    assert main(["predict", str(folder), "--csv", str(out), "--crops"]) == 0
    err = capsys.readouterr().err
    assert f"skipped {folder / 'one_pixel.png'}: too small to be a face (1×1 px" in err
    assert f"skipped {folder / 'black.jpg'}: too uniform to be a face" in err
    assert f"skipped {folder / 'transparent.png'}: too uniform to be a face" in err
    _, rows = read_csv(out)
    assert [r["path"] for r in rows] == [str(folder / "face.jpg")]


def test_predict_folder_takes_every_photo_type_and_reports_what_it_skips(tmp_path, test_faces, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    face = Image.open(test_faces["with_mask"][0])
    for name in ("face.gif", "face.tif", "face.tiff", "sub/face.jpg"):
        face.save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    os.mkfifo(folder / "pipe.jpg")  # reading it would block forever
    (folder / "broken.jpg").symlink_to(folder / "missing.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "again").symlink_to(folder)
    out = tmp_path / "faces.csv"
    assert main(["predict", str(folder), "--csv", str(out), "--crops"]) == 0
    err = capsys.readouterr().err
    _, rows = read_csv(out)
    assert [r["path"] for r in rows] == [str(folder / n) for n in ("face.gif", "face.tif", "face.tiff", "sub/face.jpg")]
    for name, reason in (("notes.txt", "not an image file type (.txt)"), ("pipe.jpg", "not a regular file (named pipe"),
                         ("broken.jpg", "broken symbolic link"), ("loop.jpg", "symbolic link loop"),
                         ("again", "link to a folder (not followed)")):
        assert f"skipped {folder / name}: {reason}" in err, err


def test_validate_reads_validation_data_only(tmp_path, fm12k, extra_faces, shipped_model, capsys, monkeypatch):
    """The ship rule's figures: Validation, the extra faces' val fold, drawn occluders and the
    dim-webcam probe over Validation faces — and never a split or fold that reports results."""
    splits, folds = [], []
    list_split, list_extra = datasets.list_split, datasets.list_extra_faces
    monkeypatch.setattr(datasets, "list_split", lambda root, split, *a, **k: splits.append(split) or list_split(root, split, *a, **k))
    monkeypatch.setattr(datasets, "list_extra_faces",
                        lambda root, f=datasets.EXTRA_FOLDS: folds.extend(f) or list_extra(root, f))
    out = tmp_path / "v.json"
    assert main(["validate", "--data", str(fm12k), "--extra-faces", str(extra_faces), "--limit", "60",
                 "--json", str(out)]) == 0
    assert splits == ["Validation"] and set(folds) == {"val"}
    doc = json.loads(out.read_text())
    v = doc["validation"]
    assert v["n"] == 60 and v["binary_accuracy"] >= 0.95, v
    e = doc["extra_val"]
    assert e["n"] == 60 and set(e["recall"]) == set(labels.CLASSES3) and 0 <= e["balanced_accuracy"] <= 1, e
    occ = doc["drawn_occluders_called_with_mask"]
    assert occ["n"] == 30 and {"hand", "phone", "cup", "scarf"} <= set(occ), occ
    assert set(doc["dim_webcam"]) == {"dim", "dark", "very dark"}
    grey = doc["extra_val_grayscale"]  # the same 60 faces turned grey, beside colour
    assert sum(r["n"] for r in grey.values()) == 60 and all(0 <= r["kept"] <= 1 for r in grey.values()), grey
    assert {c: r["kept_colour"] for c, r in grey.items()} == {c: e["recall"][c] for c in grey}
    printed = capsys.readouterr().out
    assert "Face Mask 12K Validation" in printed and "dim-webcam probe" in printed and str(out) in printed


def test_predict_counts_black_and_white_photos_and_says_what_they_cost(tmp_path, dev_scenes, shipped_model, capsys):
    scenes, _ = datasets.list_scenes(dev_scenes)
    pick = next(s for s in scenes if datasets.scene_fold(s.image_path) == "holdout" and len(s.boxes) >= 2)
    folder = tmp_path / "photos"
    folder.mkdir()
    colour = Image.open(pick.image_path).convert("RGB")
    colour.save(folder / "colour.png")
    colour.convert("L").convert("RGB").save(folder / "grey.jpg", quality=90)  # no colour, stored as RGB
    out = tmp_path / "faces.csv"
    Image.new("RGB", (300, 200), (90, 90, 90)).save(folder / "blank_grey.png")  # no face: nothing to say of grey
    assert main(["predict", str(folder), "--csv", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 of the images is black and white" in err and "without mask" in err, err
    assert json.loads(out.with_name("faces.summary.json").read_text())["images_black_and_white"] == 1
