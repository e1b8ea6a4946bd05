"""The command line given bad data, bad model files, bad options and bad output paths: one clear
line naming what is wrong, an exit code that says so, nothing lost, and never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from maskdash.cli import main
from maskdash.data import datasets


def _no_traceback(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "this is a bug" not in err, err
    return err


def _bad_split(root: Path) -> Path:
    """A Face Mask 12K–shaped folder whose Test split holds only files that are not images."""
    for folder in ("WithMask", "WithoutMask"):
        (root / "Test" / folder).mkdir(parents=True)
        (root / "Test" / folder / "empty.jpg").write_bytes(b"")
        (root / "Test" / folder / "text.png").write_text("not an image")
    return root


@pytest.fixture
def two_scenes(tmp_path, dev_scenes) -> Path:
    """Two real dev photos with their labels, plus an annotation whose coordinate is not a number."""
    root = tmp_path / "scenes"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    # holdout photos: `bench photos` times that fold, the other commands are given --fold all
    scenes = [s for s in datasets.list_scenes(dev_scenes)[0] if datasets.scene_fold(s.image_path) == "holdout"]
    for scene in scenes[:2]:
        shutil.copy(scene.image_path, root / "images")
        shutil.copy(dev_scenes / "annotations" / f"{scene.image_path.stem}.xml", root / "annotations")
    bad = scenes[2]
    shutil.copy(bad.image_path, root / "images")
    xml = (dev_scenes / "annotations" / f"{bad.image_path.stem}.xml").read_text()
    start = xml.index("<xmin>") + len("<xmin>")
    (root / "annotations" / f"{bad.image_path.stem}.xml").write_text(xml[:start] + "abc" + xml[xml.index("<", start):])
    return root


def test_a_symlink_loop_given_by_name_is_skipped_and_the_batch_goes_on(tmp_path, dev_scenes, shipped_model, capsys):
    photo = tmp_path / "photo.jpg"
    shutil.copy(sorted((dev_scenes / "images").iterdir())[0], photo)
    loop = tmp_path / "loop.jpg"
    os.symlink(loop, loop)
    out = tmp_path / "out.csv"
    assert main(["predict", str(photo), str(loop), "--csv", str(out), "--detector", "blazeface"]) == 0
    err = _no_traceback(capsys)
    assert "loop.jpg" in err
    summary = json.loads(out.with_name("out.summary.json").read_text())
    assert summary["images"] == 2 and summary["images_ok"] == 1 and summary["images_skipped"] == 1


def test_evaluate_with_no_readable_image_says_so_and_writes_nothing(tmp_path, shipped_model, capsys):
    data = _bad_split(tmp_path / "data")
    out = tmp_path / "eval"
    for extra in ([], ["--no-dedup"], ["--no-dedup", "--probes"]):
        assert main(["evaluate", "--data", str(data), "--out", str(out), *extra]) == 2
        err = _no_traceback(capsys)
        assert "no readable images" in err and "4 listed, 4 unreadable" in err
    assert not (out / "metrics.json").exists()


def test_evaluate_refuses_an_out_that_is_a_file_before_any_work(tmp_path, capsys):
    data = _bad_split(tmp_path / "data")
    out = tmp_path / "eval"
    out.write_text("my notes")
    assert main(["evaluate", "--data", str(data), "--no-dedup", "--out", str(out)]) == 2
    assert "is a file" in _no_traceback(capsys)
    assert out.read_text() == "my notes"


def test_report_run_checks_the_run_before_replacing_the_model(tmp_path, capsys):
    out = tmp_path / "shipped"
    out.mkdir()
    (out / "model.keras").write_bytes(b"the model that works")
    run = tmp_path / "badrun"
    run.mkdir()
    (run / "best.keras").write_bytes(b"PK junk")
    assert main(["report", "--run", str(run), "--out", str(out)]) == 2
    err = _no_traceback(capsys)
    assert "best.keras" in err
    assert (out / "model.keras").read_bytes() == b"the model that works"
    assert main(["report", "--run", str(tmp_path / "no-such-run"), "--out", str(out)]) == 2
    assert "no run folder" in _no_traceback(capsys)


def test_analyze_keeps_earlier_results_when_the_model_or_data_cannot_be_read(tmp_path, shipped_model, capsys):
    bad = tmp_path / "models" / "bad.tflite"
    bad.parent.mkdir()
    bad.write_bytes(os.urandom(2000))
    folder = tmp_path / "analysis" / "models"  # where this model's results go: named after its folder
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{}")
    (folder / "angles.csv").write_text("kept")
    assert main(["analyze", str(bad), str(bad), "--studies", "distance", "--out", str(tmp_path / "analysis")]) == 2
    err = _no_traceback(capsys)
    assert err.count("skipping") == 2 and "bad.tflite" in err  # each bad model named; the list went on
    assert (folder / "angles.csv").read_text() == "kept" and (folder / "summary.json").exists()
    # a model that reads, over data that does not: the data is named, the results still kept
    good = tmp_path / "models" / "model.tflite"
    shutil.copy(shipped_model.with_suffix(".tflite"), good)
    data = _bad_split(tmp_path / "data")
    assert main(["analyze", str(good), "--studies", "distance", "--data", str(data),
                 "--out", str(tmp_path / "analysis")]) == 2
    assert "no readable Test faces" in _no_traceback(capsys)
    assert (folder / "angles.csv").read_text() == "kept" and (folder / "summary.json").exists()


def test_scenes_names_unusable_annotations_and_refuses_an_empty_folder(tmp_path, two_scenes, capsys):
    out = tmp_path / "new" / "figures.json"  # its folder does not exist yet
    assert main(["scenes", "--scenes", str(two_scenes), "--fold", "all", "--detector", "blazeface",
                 "--no-classifier", "--json", str(out)]) == 0
    err = _no_traceback(capsys)
    bad_xml = sorted((two_scenes / "annotations").iterdir())[-1].name
    assert "abc" in err and any(p.name in err for p in (two_scenes / "annotations").iterdir())
    doc = json.loads(out.read_text())
    assert doc["images"] == 2 and any("abc" in s for s in doc["skipped"]), bad_xml
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "annotations").mkdir()
    assert main(["scenes", "--scenes", str(empty), "--fold", "all", "--detector", "blazeface", "--no-classifier"]) == 2
    assert "no labelled photos" in _no_traceback(capsys)


def test_an_output_file_that_is_a_folder_is_refused_before_any_work(tmp_path, two_scenes, capsys):
    taken = tmp_path / "taken.json"
    taken.mkdir()
    assert main(["scenes", "--scenes", str(two_scenes), "--fold", "all", "--detector", "blazeface",
                 "--no-classifier", "--json", str(taken)]) == 2
    assert "is a folder" in _no_traceback(capsys)
    assert main(["export", "--model", str(tmp_path / "missing.keras"), "--out", str(taken)]) == 2
    assert "is a folder" in _no_traceback(capsys)


def test_bench_runtime_names_a_model_that_is_not_a_tflite_file(tmp_path, capsys):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(os.urandom(4000))
    for model in (junk, tmp_path, tmp_path / "m.keras"):
        if model.suffix == ".keras":
            model.write_bytes(b"PK")
        assert main(["bench", "runtime", "--model", str(model)]) == 2
        err = _no_traceback(capsys)
        assert model.name in err


def test_bench_photos_skips_an_unreadable_photo_and_names_it(tmp_path, two_scenes, shipped_model, capsys):
    (sorted((two_scenes / "images").iterdir())[0]).write_bytes(b"")
    assert main(["bench", "photos", "--scenes", str(two_scenes), "--sample", "3", "--repeats", "1",
                 "--detector", "blazeface", "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert any("empty" in s for s in doc["skipped"]) and doc["groups"]["dev_holdout"]["photos"] >= 1


@pytest.mark.parametrize("argv", [
    ["train", "--out", "x", "--epochs", "0"], ["train", "--out", "x", "--epochs", "-1"],
    ["train", "--out", "x", "--lr", "nan"], ["train", "--out", "x", "--lr", "0"],
    ["scenes", "--limit", "0"], ["scenes", "--limit", "-2"], ["validate", "--limit", "-5"],
    ["bench", "predict", "x.jpg", "--rounds", "0"], ["analyze", "robust", "--seed", "-1"],
    ["bench", "runtime", "--threads", "0"],
])
def test_counts_and_rates_out_of_range_are_refused_by_name(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    flag = [a for a in argv if a.startswith("--")][-1]
    assert f"argument {flag}:" in err and "Traceback" not in err


def test_validate_names_a_missing_extra_faces_folder(tmp_path, fm12k, capsys):
    assert main(["validate", "--data", str(fm12k), "--extra-faces", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in _no_traceback(capsys)


def test_an_interrupted_predict_leaves_the_old_csv_whole(tmp_path, dev_scenes, shipped_model, monkeypatch):
    from maskdash.inference import batch

    photos = sorted((dev_scenes / "images").iterdir())[:3]
    out = tmp_path / "faces.csv"
    out.write_text("the last run's rows\n")
    real_call, calls = batch.Predictor.__call__, []

    def stop_at_the_second(self, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_call(self, path)

    monkeypatch.setattr(batch.Predictor, "__call__", stop_at_the_second)
    opts = batch.options(False, 0.5, None, None, "blazeface")
    with pytest.raises(KeyboardInterrupt):
        batch.predict_local(photos, opts, out)
    assert out.read_text() == "the last run's rows\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv"]  # no temporary file left behind
    monkeypatch.setattr(batch.Predictor, "__call__", real_call)
    batch.predict_local(photos, opts, out)
    assert out.read_text().startswith("path,face,")
