"""Writing files whole: every writer in the project (run folders, `predict`'s CSV, parts and summary,
the live results file) writes under a temporary name in the target's folder, flushes it to disk and
renames it over the target (`os.replace` is atomic), so a reader or a kill at any moment sees the
old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

# Temporary files start with this and keep the real suffix last (Keras and NumPy choose the format
# by it); the writer's process and thread are in the name, so two writers never share one.
TMP_PREFIX = ".tmp-"


def temporary_name(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{path.name}")


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` makes the file under a temporary name beside `path`; it replaces `path` only
    once complete and on disk. A failed write leaves `path` as it was and no temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            f.write(text)

    write_atomic(path, write)


def write_json_atomic(path: str | Path, doc, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(doc, indent=indent) + ("\n" if indent is not None else ""))
