"""Duplicate audit of a classification folder (Face Mask 12K layout: `<root>/<Split>/<Class>/*`).

Two kinds of duplicate are found:
- **exact**: files whose bytes are identical (sha256);
- **near**: visually the same image stored differently (re-encoded, resized, brightened). Two
  distinct contents are linked when the Hamming distance of their 64-bit perceptual hashes
  (imagehash.phash) is ≤ `near_threshold`; linked contents are grouped transitively (union-find).

Why 4 by default: phash keeps the signs of the 8×8 lowest DCT frequencies of a 32×32 grey
thumbnail against their median, so every hash has 32 set bits and distances are even (4 ≡ 5).
Measured on Face Mask 12K (300 random images): JPEG re-encoding at quality 40–60, a 90 % resize,
+5 % brightness, and all three together moved the hash by 0–4 bits in every case. Unrelated images
differ by ~29 ± 4.6 bits. Raising the limit costs precision fast, because CelebA crops are aligned
frontal faces: at exactly 4 bits 2 of the 50 linked pairs were different people, at 6 bits most
unmasked pairs were, at 8 bits (781 pairs) essentially all were.

The audit never stops on a bad file: unreadable files are listed with the reason and take no
part in grouping (the loaders skip them too). Every path is stored relative to the data folder,
with forward slashes, so reports are portable.

Outputs in `out_dir`: `audit.json` (summary + groups + unreadable files), `duplicates.csv`
(group,kind,path,split,label) and `test_dedup.txt` — the Test files with no exact or near
duplicate in any other split, i.e. the split on which an accuracy figure is honest."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from maskdash.data.datasets import list_split, list_splits
from maskdash.labels import CLASSES
from maskdash.imaging import MAX_BYTES, ImageError, load_rgb

DEFAULT_NEAR_THRESHOLD = 4
TEST_SPLIT = "test"  # matched case-insensitively
AUDIT_JSON, DUPLICATES_CSV, TEST_DEDUP_TXT = "audit.json", "duplicates.csv", "test_dedup.txt"


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the data folder, POSIX separators
    split: str
    label: str


# ---------------------------------------------------------------- hashing


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def phash64(rgb: np.ndarray) -> int:
    """imagehash.phash of a decoded RGB image as one unsigned 64-bit integer."""
    import imagehash
    from PIL import Image

    bits = imagehash.phash(Image.fromarray(rgb)).hash.flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


# ---------------------------------------------------------------- fast pairwise Hamming distance

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (as uint8). NumPy ≥ 2 has a native popcount; older NumPy uses a
    256-entry table over the 8 bytes of each word."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.uint8)
    return _popcount_table(x)


def _popcount_table(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _POPCOUNT8[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1, dtype=np.uint8)


def near_pairs(hashes: np.ndarray, threshold: int, block: int = 512) -> np.ndarray:
    """All index pairs (i < j) whose hashes differ in ≤ `threshold` bits, as a K×2 int array.
    Row blocks against the upper triangle keep memory at block×N words (≈50 MB for 12k hashes)
    instead of an N×N matrix, and XOR + popcount run in NumPy, not in a Python double loop."""
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(h)
    found: list[np.ndarray] = []
    for start in range(0, n, block):
        rows = h[start : start + block]
        dist = popcount64(rows[:, None] ^ h[None, start:])  # columns start at `start`
        i, j = np.nonzero(dist <= threshold)
        keep = j > i  # upper triangle only: each pair once, no self-pairs
        found.append(np.stack([i[keep] + start, j[keep] + start], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


# ---------------------------------------------------------------- grouping


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]  # path halving
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        """Components with two or more members, each sorted, in order of their first member."""
        comp: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            comp.setdefault(self.find(i), []).append(i)
        return sorted((m for m in comp.values() if len(m) > 1), key=lambda m: m[0])


def _pair_key(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def _describe(gid: int, kind: str, members: list[FileEntry], max_distance: int | None) -> dict:
    splits = sorted({m.split for m in members})
    labels = sorted({m.label for m in members})
    return {
        "id": gid,
        "kind": kind,
        "size": len(members),
        "splits": splits,
        "cross_split": len(splits) > 1,
        "labels": labels,
        "conflicting_labels": len(labels) > 1,
        "max_distance": max_distance,  # largest phash distance within the group
        "files": [{"path": m.path, "split": m.split, "label": m.label} for m in members],
    }


def _kind_summary(groups: list[dict], splits: list[str]) -> dict:
    """Counts for one kind. `split_pairs["Test|Train"]` counts groups holding files of both
    splits and, per split, how many of its files have a copy in the other one."""
    pairs = {}
    for a, b in combinations(splits, 2):
        both = [g for g in groups if a in g["splits"] and b in g["splits"]]
        pairs[_pair_key(a, b)] = {
            "groups": len(both),
            "files": {s: sum(f["split"] == s for g in both for f in g["files"]) for s in (a, b)},
        }
    within = {
        s: sum(1 for g in groups if sum(f["split"] == s for f in g["files"]) > 1) for s in splits
    }
    return {
        "groups": len(groups),
        "files": sum(g["size"] for g in groups),
        "cross_split_groups": sum(g["cross_split"] for g in groups),
        "conflicting_label_groups": sum(g["conflicting_labels"] for g in groups),
        "within_split_groups": within,  # groups with ≥ 2 files in that split
        "split_pairs": pairs,
    }


# ---------------------------------------------------------------- the audit


def list_files(data_dir: Path) -> list[FileEntry]:
    entries = []
    for split in list_splits(data_dir):
        for s in list_split(data_dir, split):
            rel = s.path.relative_to(data_dir).as_posix()
            entries.append(FileEntry(rel, s.split, CLASSES[s.label]))
    return entries


def _hash_file(path: Path) -> tuple[str | None, str | None]:
    """(sha256, None) or (None, reason)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None, "empty file (0 bytes)"
        if size > MAX_BYTES:
            return None, f"file too large ({size / 1e6:.0f} MB)"
        return sha256_file(path), None
    except OSError as exc:
        return None, f"cannot read file: {exc.strerror or exc}"


def _phash_file(path: Path) -> tuple[int | None, str | None]:
    try:
        return phash64(load_rgb(path)), None
    except ImageError as exc:
        return None, str(exc)


def run_audit(
    data_dir: str | Path,
    out_dir: str | Path,
    near_threshold: int = DEFAULT_NEAR_THRESHOLD,
    progress: bool = True,
    workers: int | None = None,
) -> dict:
    """Audit `data_dir`, write audit.json, duplicates.csv and test_dedup.txt into `out_dir`,
    and return the audit as a dict (what audit.json holds)."""
    from tqdm import tqdm

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    if not 0 <= near_threshold <= 64:
        raise ValueError(f"near_threshold must be between 0 and 64 bits, got {near_threshold}")
    out_dir = Path(out_dir)
    workers = workers or min(4, os.cpu_count() or 1)
    entries = list_files(data_dir)
    splits = sorted({e.split for e in entries})

    # 1) bytes → sha256 (cheap); 2) decode + phash once per distinct content.
    with ThreadPoolExecutor(workers) as pool:
        hashed = list(tqdm(pool.map(lambda e: _hash_file(data_dir / e.path), entries),
                           total=len(entries), desc="sha256", unit="file", disable=not progress))
    unreadable: dict[int, str] = {i: err for i, (sha, err) in enumerate(hashed) if err}
    by_sha: dict[str, list[int]] = {}
    for i, (sha, _) in enumerate(hashed):
        if sha is not None:
            by_sha.setdefault(sha, []).append(i)
    shas = list(by_sha)
    with ThreadPoolExecutor(workers) as pool:
        phashed = list(tqdm(pool.map(lambda s: _phash_file(data_dir / entries[by_sha[s][0]].path), shas),
                            total=len(shas), desc="phash", unit="image", disable=not progress))
    contents: list[tuple[str, int]] = []  # (sha, phash) of every decodable distinct content
    for sha, (ph, err) in zip(shas, phashed):
        if ph is None:
            for i in by_sha[sha]:
                unreadable[i] = err or "unreadable"
        else:
            contents.append((sha, ph))

    groups: list[dict] = []
    # Exact: the same bytes in two or more files.
    for sha, _ in contents:
        if len(by_sha[sha]) > 1:
            groups.append(_describe(len(groups) + 1, "exact", [entries[i] for i in by_sha[sha]], 0))
    # Near: distinct contents whose phashes are within the threshold, joined transitively.
    hashes = np.array([ph for _, ph in contents], dtype=np.uint64)
    pairs = near_pairs(hashes, near_threshold)
    uf = UnionFind(len(contents))
    for a, b in pairs:
        uf.union(int(a), int(b))
    for comp in uf.groups():
        files = sorted((i for c in comp for i in by_sha[contents[c][0]]), key=lambda i: entries[i].path)
        sub = hashes[comp]
        max_d = int(popcount64(sub[:, None] ^ sub[None, :]).max())
        groups.append(_describe(len(groups) + 1, "near", [entries[i] for i in files], max_d))

    # De-duplicated Test: readable Test files in no group that reaches another split.
    leaked = {f["path"] for g in groups if g["cross_split"] for f in g["files"]}
    test_all = [e for i, e in enumerate(entries) if e.split.lower() == TEST_SPLIT and i not in unreadable]
    test_dedup = sorted(e.path for e in test_all if e.path not in leaked)

    exact = [g for g in groups if g["kind"] == "exact"]
    near = [g for g in groups if g["kind"] == "near"]
    audit = {
        "data_dir": str(data_dir),
        "near_threshold": near_threshold,
        "summary": {
            "files": len(entries),
            "readable": len(entries) - len(unreadable),
            "unreadable": len(unreadable),
            "distinct_contents": len(contents),
            "splits": {s: sum(e.split == s for e in entries) for s in splits},
            "exact": _kind_summary(exact, splits),
            "near": _kind_summary(near, splits),
            "test_files": len(test_all),
            "test_dedup_files": len(test_dedup),
        },
        "unreadable": [
            {"path": entries[i].path, "split": entries[i].split, "label": entries[i].label, "reason": r}
            for i, r in sorted(unreadable.items())
        ],
        "groups": groups,
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / AUDIT_JSON).write_text(json.dumps(audit, indent=1), encoding="utf-8")
    with open(out_dir / DUPLICATES_CSV, "w", newline="", encoding="utf-8") as fp:
        w = csv.writer(fp)
        w.writerow(["group", "kind", "path", "split", "label"])
        for g in groups:
            for f in g["files"]:
                w.writerow([g["id"], g["kind"], f["path"], f["split"], f["label"]])
    (out_dir / TEST_DEDUP_TXT).write_text("".join(p + "\n" for p in test_dedup), encoding="utf-8")
    return audit


def dedup_test_paths(out_dir_or_audit_json: str | Path) -> set[str]:
    """The de-duplicated Test files (paths relative to the data folder) from an audit folder, or
    from its audit.json / test_dedup.txt."""
    p = Path(out_dir_or_audit_json)
    txt = p / TEST_DEDUP_TXT if p.is_dir() else p.with_name(TEST_DEDUP_TXT)
    if not txt.is_file():
        raise FileNotFoundError(f"no {TEST_DEDUP_TXT} beside {p}: run the audit first")
    return {line.strip() for line in txt.read_text(encoding="utf-8").splitlines() if line.strip()}
