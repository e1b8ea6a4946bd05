"""`predict --engine ray` on a local Ray: the local engine's CSV byte for byte (scene and crop
modes, broken files included), a run killed mid-way and resumed, a worker killed mid-block, and
the default engine working without Ray. Real photos, real models, real Ray processes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maskdash.cli import main
from maskdash.data import datasets

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = 24  # dev scene photos in the test folder (every 20th: not hand-picked)
BROKEN = {"truncated.jpg": "corrupt or truncated image", "text.jpg": "not an image",
          "empty.jpg": "empty file (0 bytes)"}


@pytest.fixture(scope="module")
def photos(dev_scenes, ray_installed, tmp_path_factory) -> Path:
    """Real dev scene photos plus files that cannot be read, and a non-image the walk skips."""
    folder = tmp_path_factory.mktemp("photos")
    images = sorted((dev_scenes / "images").glob("*.jpg"))[::20][:PHOTOS]
    for p in images:
        shutil.copy(p, folder / p.name)
    (folder / "truncated.jpg").write_bytes(images[0].read_bytes()[:3000])
    (folder / "text.jpg").write_text("not a photo at all\n")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("left out by the walk")
    return folder


def predict(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


@pytest.fixture(scope="module")
def local_run(photos, tmp_path_factory) -> dict:
    """The local engine's CSV, stderr lines and summary for `photos` (the reference)."""
    out = tmp_path_factory.mktemp("local") / "faces.csv"
    err = io.StringIO()  # a module fixture cannot take capsys
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["predict", str(photos), "--csv", str(out)]) == 0
    return {"csv": out.read_bytes(), "err": err.getvalue(),
            "summary": json.loads(out.with_suffix(".summary.json").read_text())}


def skip_lines(err: str) -> list[str]:
    return sorted(line for line in err.splitlines() if line.startswith(("skipped ", "no face found in ")))


def test_ray_gives_the_local_csv_and_summary(photos, local_run, tmp_path, capsys):
    out = tmp_path / "faces.csv"
    code, stdout, err = predict([str(photos), "--csv", str(out), "--engine", "ray", "--workers", "2",
                                 "--block-size", "4"], capsys)
    assert code == 0, err
    assert out.read_bytes() == local_run["csv"]  # same rows, same order, same number formatting
    assert skip_lines(err) == skip_lines(local_run["err"])
    for name, reason in BROKEN.items():
        assert f"skipped {photos / name}: {reason}" in err
    assert not (tmp_path / "faces.csv.parts").exists()  # merged, then cleared
    doc = json.loads((tmp_path / "faces.summary.json").read_text())
    ref = local_run["summary"]
    for key in ("images", "images_ok", "faces", "labels", "share", "failures", "entries_skipped",
                "model", "detector", "mask_threshold", "detector_threshold"):
        assert doc[key] == ref[key], key
    assert doc["model"].endswith("model.tflite") and doc["detector"] and doc["mask_threshold"] == 0.5
    rows = local_run["csv"].decode().splitlines()[1:]
    assert doc["images"] == PHOTOS + len(BROKEN) and doc["images_ok"] == PHOTOS
    assert doc["faces"] == len(rows) > PHOTOS
    assert doc["failures"] == {"corrupt or truncated image": 1, "not an image": 1, "empty file": 1,
                               "not an image file type": 1}
    assert abs(sum(doc["share"].values()) - 1) < 1e-3
    assert doc["engine"] == "ray" and doc["workers"] == 2 and doc["images_per_second"] > 0
    assert stdout.startswith(f"wrote {len(rows)} rows for {PHOTOS} images")


def test_ray_crops_from_a_path_list(fm12k, ray_installed, tmp_path, capsys):
    """--crops, inputs given as a list file (relative paths, a comment, a missing file)."""
    faces = [s.path for s in datasets.list_split(fm12k, "Test")][::150][:8]
    for p in faces:
        shutil.copy(p, tmp_path / p.name)
    listing = tmp_path / "crops.txt"
    listing.write_text("# faces to check\n" + "".join(f"{p.name}\n" for p in faces) + "\ngone.jpg\n")
    results = {}
    for engine, extra in (("local", []), ("ray", ["--block-size", "3", "--workers", "2"])):
        out = tmp_path / engine / "crops.csv"
        code, _, err = predict([str(listing), "--csv", str(out), "--crops", "--engine", engine, *extra], capsys)
        assert code == 0, err
        assert f"skipped {tmp_path / 'gone.jpg'}: cannot read file: No such file or directory" in err
        results[engine] = out.read_bytes()
    assert results["ray"] == results["local"]
    assert results["local"].decode().splitlines()[0] == "path,label,p_mask,p_incorrect"
    assert len(results["local"].decode().splitlines()) == 1 + len(faces)


def session_pids(sid: int) -> list[int]:
    """Processes of the session `sid` (a run started with its own session: its Ray processes too)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def block_workers(sid: int) -> list[int]:
    out = []
    for pid in session_pids(sid):
        try:
            if b"BlockWorker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            pass
    return out


def start(photos: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "maskdash", "predict", str(photos), "--csv", str(out), "--engine", "ray",
         "--workers", "1", "--block-size", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_parts(parts: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while len(list(parts.glob("0*.json"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no parts appeared"
        time.sleep(0.05)


def end_session(proc: subprocess.Popen) -> None:
    """SIGKILL the run and every process it started (by their ids), and wait until they are gone."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    end = time.monotonic() + 30
    while (left := session_pids(proc.pid)) and time.monotonic() < end:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def test_a_killed_run_resumes_to_the_same_csv(photos, local_run, tmp_path, capsys):
    out = tmp_path / "faces.csv"
    parts = tmp_path / "faces.csv.parts"
    proc = start(photos, out)
    try:
        wait_for_parts(parts, 3, proc)
    finally:
        end_session(proc)
    done = len(list(parts.glob("0*.json")))
    blocks = -(-(PHOTOS + len(BROKEN)) // 3)
    assert 3 <= done < blocks and not out.exists()

    # Other options than the saved blocks': refused, the blocks kept.
    code, _, err = predict([str(photos), "--csv", str(out), "--engine", "ray", "--workers", "1",
                            "--block-size", "3", "--threshold", "0.6"], capsys)
    assert code == 2 and "--fresh" in err and len(list(parts.glob("0*.json"))) == done

    code, _, err = predict([str(photos), "--csv", str(out), "--engine", "ray", "--workers", "1",
                            "--block-size", "3"], capsys)
    assert code == 0, err
    assert f"resuming: {done} of {blocks} blocks already done" in err
    assert out.read_bytes() == local_run["csv"]
    assert skip_lines(err) == skip_lines(local_run["err"])  # the saved blocks' skips reported again
    doc = json.loads((tmp_path / "faces.summary.json").read_text())
    assert doc["images"] == PHOTOS + len(BROKEN) and doc["faces"] == local_run["summary"]["faces"]
    assert doc["images_processed"] < doc["images"]  # only the blocks not saved were read again


def test_a_worker_killed_mid_block_is_retried(photos, local_run, tmp_path):
    out = tmp_path / "faces.csv"
    proc = start(photos, out)
    try:
        wait_for_parts(tmp_path / "faces.csv.parts", 1, proc)
        time.sleep(0.3)  # into the next block (3 photos take about a second)
        killed = block_workers(proc.pid)
        assert killed, "no worker process found"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            end_session(proc)
    assert proc.returncode == 0, stderr
    assert "lost (its worker died), retrying" in stderr
    assert out.read_bytes() == local_run["csv"]


def test_a_bad_path_list_is_a_clear_error(tmp_path, capsys):
    binary = tmp_path / "photos.txt"
    binary.write_bytes(b"\xff\xd8\xff\xe0\0\0 a JPEG named .txt")
    empty = tmp_path / "empty.lst"
    empty.write_text("# nothing yet\n\n")
    for listing, message in ((tmp_path / "missing.txt", f"path list not found: {tmp_path / 'missing.txt'}"),
                             (binary, f"{binary} is not a text list of paths"),
                             (empty, f"the path list {empty} names no paths")):
        for engine in ("local", "ray"):
            code, _, err = predict([str(listing), "--csv", str(tmp_path / "x.csv"), "--engine", engine], capsys)
            assert code == 2
            assert err.strip() == f"error: {message}" or message in err.splitlines()[0], err
            assert "Traceback" not in err


def test_options_of_the_other_engine_are_refused(tmp_path, capsys):
    photo = str(tmp_path / "a.jpg")
    code, _, err = predict([photo, "--csv", str(tmp_path / "x.csv"), "--workers", "2", "--fresh"], capsys)
    assert code == 2 and err == "error: --workers, --fresh only apply to --engine ray\n"
    code, _, err = predict([photo, "--csv", str(tmp_path / "x.csv"), "--engine", "ray", "--annotate", "ann"], capsys)
    assert code == 2 and err == "error: --annotate works with the local engine only\n"
    assert not (tmp_path / "x.csv").exists()


def test_a_path_list_that_lists_itself_is_an_error(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("b.txt\n")
    (tmp_path / "b.txt").write_text("photo.jpg\na.txt\n")
    code, _, err = predict([str(tmp_path / "a.txt"), "--csv", str(tmp_path / "x.csv")], capsys)
    assert code == 2 and err.startswith(f"error: the path list {tmp_path / 'a.txt'} lists itself"), err


def test_the_default_engine_and_help_need_no_ray(dev_scenes, tmp_path):
    """With Ray hidden (as if not installed): --help and the local engine work and import no Ray;
    --engine ray says what to install."""
    photo = sorted((dev_scenes / "images").glob("*.jpg"))[0]
    code = (
        "import sys, contextlib, io\n"
        "sys.modules['ray'] = None  # import ray now fails, as without the extra\n"
        "from maskdash import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: cli.main(['predict', '--help'])\n"
        "    except SystemExit: pass\n"
        f"local = cli.main(['predict', {str(photo)!r}, '--csv', {str(tmp_path / 'a.csv')!r}])\n"
        f"ray = cli.main(['predict', {str(photo)!r}, '--csv', {str(tmp_path / 'b.csv')!r}, '--engine', 'ray'])\n"
        "print(local, ray, sys.modules['ray'])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 1 None"
    assert "--engine ray needs Ray" in proc.stderr and "pip install -r requirements-scale.txt" in proc.stderr
    assert (tmp_path / "a.csv").is_file() and not (tmp_path / "b.csv").exists()
