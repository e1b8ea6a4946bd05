"""Duplicate audit on a small folder built from real Face Mask 12K images with planted copies."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from maskdash.data.audit import (
    _popcount_table,
    dedup_test_paths,
    near_pairs,
    popcount64,
    run_audit,
)

# Seven distinct real images (none of them in a duplicate group of the full data set).
REAL = {
    "A": "Train/WithMask/10.jpg",
    "B": "Train/WithMask/1011.jpg",
    "E": "Train/WithMask/1012.jpg",
    "G": "Train/WithMask/1018.jpg",
    "C": "Train/WithoutMask/10.jpg",
    "D": "Train/WithoutMask/1004.jpg",
    "F": "Train/WithoutMask/1005.jpg",
}


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _smaller(img: Image.Image, f: float = 0.9) -> Image.Image:
    return img.resize((round(img.width * f), round(img.height * f)), Image.BICUBIC)


@pytest.fixture(scope="module")
def planted(fm12k: Path, tmp_path_factory) -> Path:
    """Train / Validation / Test with exact, near, conflicting-label, corrupt and empty files."""
    root = tmp_path_factory.mktemp("planted")
    raw = {k: (fm12k / v).read_bytes() for k, v in REAL.items()}
    img = {k: Image.open(io.BytesIO(b)).convert("RGB") for k, b in raw.items()}
    files = {
        "Train/WithMask/A.jpg": raw["A"],
        "Train/WithMask/A_again.jpg": raw["A"],  # exact copy within Train
        "Train/WithMask/B.jpg": raw["B"],
        "Train/WithoutMask/C.jpg": raw["C"],
        "Train/WithoutMask/D.jpg": raw["D"],
        "Train/WithoutMask/empty2.jpg": b"",
        "Validation/WithMask/G.jpg": raw["G"],
        "Validation/WithMask/corrupt.jpg": raw["E"][:400],  # truncated JPEG
        "Validation/WithoutMask/B_conflict.jpg": raw["B"],  # same bytes, other label
        "Test/WithMask/A_copy.jpg": raw["A"],  # exact leak Train → Test
        "Test/WithMask/E.jpg": raw["E"],
        "Test/WithMask/G_bright.jpg": _jpeg(ImageEnhance.Brightness(img["G"]).enhance(1.05), 95),
        "Test/WithMask/empty.jpg": b"",
        "Test/WithoutMask/C_small_q50.jpg": _jpeg(_smaller(img["C"]), 50),
        "Test/WithoutMask/F.jpg": raw["F"],
        "Test/WithoutMask/F_q60.jpg": _jpeg(img["F"], 60),  # near copy inside Test only
        "Test/WithoutMask/notes.txt": b"not an image file, ignored by the listing",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def audited(planted: Path, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("audit_out")
    return run_audit(planted, out, progress=False), out


def _group_sets(audit: dict, kind: str) -> set[frozenset[str]]:
    return {frozenset(f["path"] for f in g["files"]) for g in audit["groups"] if g["kind"] == kind}


def test_exact_groups(audited):
    audit, _ = audited
    assert _group_sets(audit, "exact") == {
        frozenset({"Train/WithMask/A.jpg", "Train/WithMask/A_again.jpg", "Test/WithMask/A_copy.jpg"}),
        frozenset({"Train/WithMask/B.jpg", "Validation/WithoutMask/B_conflict.jpg"}),
    }
    by_first = {g["files"][0]["path"]: g for g in audit["groups"] if g["kind"] == "exact"}
    a = next(g for g in by_first.values() if g["size"] == 3)
    b = next(g for g in by_first.values() if g["size"] == 2)
    assert a["cross_split"] and not a["conflicting_labels"]
    assert b["cross_split"] and b["conflicting_labels"]
    assert b["labels"] == ["with_mask", "without_mask"]


def test_near_groups_and_distinct_images_apart(audited):
    """Re-encoded, resized and brightened copies are found; the seven distinct real images,
    the empty files and the exact copies are not linked to anything else."""
    audit, _ = audited
    assert _group_sets(audit, "near") == {
        frozenset({"Train/WithoutMask/C.jpg", "Test/WithoutMask/C_small_q50.jpg"}),
        frozenset({"Validation/WithMask/G.jpg", "Test/WithMask/G_bright.jpg"}),
        frozenset({"Test/WithoutMask/F.jpg", "Test/WithoutMask/F_q60.jpg"}),
    }
    for g in audit["groups"]:
        if g["kind"] == "near":
            assert 0 <= g["max_distance"] <= 4
    in_test_only = next(g for g in audit["groups"] if g["files"][0]["path"].endswith("F.jpg"))
    assert not in_test_only["cross_split"]


def test_summary_and_unreadable(audited):
    audit, _ = audited
    s = audit["summary"]
    assert s["files"] == 16 and s["unreadable"] == 3 and s["readable"] == 13
    reasons = {u["path"]: u["reason"] for u in audit["unreadable"]}
    assert set(reasons) == {
        "Train/WithoutMask/empty2.jpg", "Test/WithMask/empty.jpg", "Validation/WithMask/corrupt.jpg",
    }
    assert "0 bytes" in reasons["Test/WithMask/empty.jpg"]
    assert any(w in reasons["Validation/WithMask/corrupt.jpg"].lower() for w in ("truncated", "corrupt"))
    ex, nr = s["exact"], s["near"]
    assert (ex["groups"], ex["files"], ex["cross_split_groups"], ex["conflicting_label_groups"]) == (2, 5, 2, 1)
    assert (nr["groups"], nr["files"], nr["cross_split_groups"], nr["conflicting_label_groups"]) == (3, 6, 2, 0)
    assert ex["split_pairs"]["Test|Train"] == {"groups": 1, "files": {"Test": 1, "Train": 2}}
    assert ex["split_pairs"]["Train|Validation"]["groups"] == 1
    assert ex["split_pairs"]["Test|Validation"]["groups"] == 0
    assert nr["split_pairs"]["Test|Validation"]["groups"] == 1
    assert ex["within_split_groups"]["Train"] == 1 and nr["within_split_groups"]["Test"] == 1


def test_files_written(audited):
    audit, out = audited
    assert json.loads((out / "audit.json").read_text()) == audit
    with open(out / "duplicates.csv", newline="") as fp:
        rows = list(csv.DictReader(fp))
    assert list(rows[0]) == ["group", "kind", "path", "split", "label"]
    assert len(rows) == 5 + 6
    assert {"Validation/WithoutMask/B_conflict.jpg", "exact", "Validation", "without_mask"} <= set(
        next(r for r in rows if r["path"].endswith("B_conflict.jpg")).values())
    assert all(not Path(r["path"]).is_absolute() for r in rows)


def test_dedup_test_split(audited):
    _, out = audited
    expected = {"Test/WithMask/E.jpg", "Test/WithoutMask/F.jpg", "Test/WithoutMask/F_q60.jpg"}
    assert dedup_test_paths(out) == expected
    assert dedup_test_paths(out / "audit.json") == expected


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        run_audit(tmp_path / "missing", tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="run the audit first"):
        dedup_test_paths(tmp_path)


def test_near_pairs_matches_brute_force():
    rng = np.random.default_rng(7)
    h = rng.integers(0, 2**63, size=300, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 300, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, size=(60, 3)).astype(np.uint64)
    h[240:] = h[:60] ^ flips[:, 0] ^ flips[:, 1] ^ flips[:, 2]  # 60 planted pairs at ≤ 3 bits
    expected = {
        (i, j) for i in range(300) for j in range(i + 1, 300)
        if bin(int(h[i]) ^ int(h[j])).count("1") <= 3
    }
    got = {tuple(map(int, p)) for p in near_pairs(h, 3, block=37)}  # block not dividing N
    assert got == expected and len(got) >= 60
    assert np.array_equal(popcount64(h ^ h[::-1]), _popcount_table(h ^ h[::-1]))
