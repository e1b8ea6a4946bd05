"""`predict`'s work on many files, shared by both engines (one process here, Ray in `scale`):
gathering the inputs (folders, files, path lists) with the reasons entries are skipped, one file
→ its CSV rows or the reason it is skipped, the CSV text, and the run's summary.

Both engines format rows with `csv_text`, so the same inputs give the same bytes whichever ran."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import itertools
import os
import stat
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from maskdash import settings
from maskdash.files import write_json_atomic
from maskdash.labels import CLASSES3

# A text file given as an input lists paths, one per line (how a job over millions of photos is
# usually handed over); these suffixes mark one.
LIST_SUFFIXES = (".txt", ".lst", ".list")


class PathListError(ValueError):
    """A path list that cannot be read as one; `str()` names the file and what is wrong."""


class WriteError(Exception):
    """An output (the CSV, its parts, the summary, annotated copies' folder) cannot be written."""


@contextmanager
def writing(path: Path):
    """OSErrors inside become one WriteError naming the file (not a failure of the inputs)."""
    try:
        yield
    except OSError as exc:
        raise WriteError(f"cannot write {shown(exc.filename or path)}: {exc.strerror or exc}") from exc


def shown(path: str | Path) -> str:
    """A path as text that can always be printed and written to the CSV: bytes of a name that
    are not UTF-8, and control characters, become backslash escapes (ordinary names unchanged)."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


# -- inputs ---------------------------------------------------------------------------------------
OWN_FOLDER = "the annotated copies' folder (--annotate): its copies are not read as photos"


def walk(root: Path, accepted: set[str], exclude: frozenset[Path] = frozenset()) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files under `root` (recursive) and, for every other entry, why it is skipped.
    Links to files are followed; links to folders are not (they could loop). Folders in `exclude`
    (resolved paths: this run's own output) are skipped, so a rerun does not count its copies."""
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            skipped.append((folder, f"cannot list this folder ({exc.strerror or exc})"))
            continue
        for entry in entries:
            path = Path(entry.path)
            reason = _entry_problem(entry, path, accepted)
            if reason is None:
                found.append(path)
            elif reason == "folder" and resolved(path) in exclude:
                skipped.append((path, OWN_FOLDER))
            elif reason == "folder":
                folders.append(path)
            else:
                skipped.append((path, reason))
    return sorted(found), sorted(skipped)


def _entry_problem(entry: os.DirEntry, path: Path, accepted: set[str]) -> str | None:
    """None for an image file to read, "folder" for a folder to search, else why it is skipped."""
    try:
        mode = entry.stat().st_mode  # follows links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if entry.is_symlink():
            return "broken symbolic link (its target does not exist)"
        return f"cannot read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "link to a folder (not followed)" if entry.is_symlink() else "folder"
    if not stat.S_ISREG(mode):
        kind = ("named pipe (FIFO)" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
                else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file")
        return f"not a regular file ({kind})"
    if path.suffix.lower() in accepted:
        return None
    return f"not an image file type ({path.suffix or 'no extension'})"


def read_path_list(path: Path) -> list[Path]:
    """The paths a list file names: one per line, blank lines and `#` comments ignored, relative
    paths taken from the list's own folder (so a list travels with its photos)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PathListError(f"path list not found: {shown(path)}") from None
    except OSError as exc:
        raise PathListError(f"cannot read the path list {shown(path)}: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise PathListError(f"{shown(path)} is not a text list of paths (it holds binary data)")
    out = []
    # Lines are bytes: a name that is not UTF-8 stays the file's real name.
    for line in data.splitlines():
        line = line.strip()
        if line and not line.startswith(b"#"):
            p = Path(os.fsdecode(line))
            out.append(p if p.is_absolute() else path.parent / p)
    if not out:
        raise PathListError(f"the path list {shown(path)} names no paths")
    return out


def gather(items: list[str | Path], _lists: frozenset[Path] = frozenset(),
           exclude: frozenset[Path] = frozenset()) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files to read, in order (folders searched for the types Photos accepts, path lists
    expanded, lists within lists too), and the folder entries skipped, with their reasons; folders
    in `exclude` (resolved) are not searched. Raises PathListError for a path list that cannot be read."""
    from maskdash.inference.photos import UPLOAD_TYPES

    accepted = {"." + t for t in UPLOAD_TYPES}
    paths: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for item in items:
        p = Path(item)
        if p.suffix.lower() in LIST_SUFFIXES and not p.is_dir():
            key = resolved(p)
            if key in _lists:
                raise PathListError(f"the path list {shown(p)} lists itself (through {len(_lists)} list(s))")
            listed, missed = gather(read_path_list(p), _lists | {key}, exclude)
            paths += listed
            skipped += missed
        elif p.is_dir():
            found, missed = walk(p, accepted, exclude)
            paths += found
            skipped += missed
        else:
            paths.append(p)  # a bad or missing file is reported when read
    return paths, skipped


def output_problem(items: list[str | Path], out: Path, annotate_dir: Path | None, paths: list[Path]) -> str | None:
    """Why this run's outputs would destroy or pollute its inputs, or None: the CSV (or the summary
    beside it) is an input file (the CSV is opened for writing before any input is read), or the
    annotated copies would go into a folder given as input (the next run would read them as photos)."""
    inputs = {resolved(p) for p in paths}
    for target in (out, summary_path(out)):
        if resolved(target) in inputs:
            return f"--csv {shown(out)} would overwrite the input {shown(target)}; write the CSV somewhere else"
    if annotate_dir is not None:
        for item in items:
            if Path(item).is_dir() and resolved(Path(item)) == resolved(annotate_dir):
                return (f"--annotate {shown(annotate_dir)} is an input folder: the copies would be read as photos "
                        "by the next run; give them a folder of their own (a subfolder is fine)")
    return None


def inputs_digest(paths: list[Path]) -> str:
    """sha256 of the input list (order included): what a resumed run must match."""
    h = hashlib.sha256()
    for p in paths:
        h.update(os.fsencode(p) + b"\0")
    return h.hexdigest()


# -- one file -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """What decides a file's rows (and so must match for a run to be resumed)."""
    crops: bool = False
    threshold: float = 0.5
    det_threshold: float | None = None
    model: str = ""  # the model file, resolved (never empty once made by `options`)
    detector: str = ""  # the detector asked for, resolved ("" in crop mode)

    @property
    def columns(self) -> list[str]:
        from maskdash.inference.results import CROP_COLUMNS, SCENE_COLUMNS

        # A crop's row is the scene row without the box columns.
        return CROP_COLUMNS if self.crops else SCENE_COLUMNS


def options(crops: bool, threshold: float, det_threshold: float | None, model: str | None,
            detector: str | None) -> Options:
    """Options with the defaults resolved here, once, so that every worker runs the same model
    and detector whatever its own settings say."""

    model_path = str(Path(model).resolve()) if model else str(settings.model_path().resolve())
    if crops:
        return Options(True, threshold, det_threshold, model_path, "")
    if not detector:
        from maskdash.inference.detection import default_photo_detector

        detector = default_photo_detector()
    return Options(False, threshold, det_threshold, model_path, detector)


@dataclass
class Outcome:
    """One file: its rows, or why it was skipped."""
    source: str  # the path as shown (see `shown`)
    rows: list[dict] = field(default_factory=list)
    error: str | None = None
    result: object = field(default=None, repr=False)  # the Results, for --annotate (local engine only)
    black_and_white: bool = False  # the picture has no colour: read less reliably (`photos.black_and_white_note`)

    @property
    def no_face(self) -> bool:
        return self.error is None and not self.rows


class Predictor:
    """The classifier and detector, loaded once, and what they make of one file."""

    def __init__(self, opts: Options, threads: int | None = None):
        from maskdash.model.runtime import load_classifier

        self.opts = opts
        self.classifier = load_classifier(opts.model, threads=threads)
        self.detector, self.note = None, None
        if not opts.crops:
            from maskdash.inference.detection import make_detector_or_fallback

            self.detector, self.note = make_detector_or_fallback(opts.detector)

    def __call__(self, path: Path) -> Outcome:
        import cv2

        # Whatever is wrong with one file (unreadable, not an image, not a face) is its outcome,
        # and the batch goes on. ImageError is a ValueError.
        try:
            result = self._results(path)
        except (OSError, ValueError, cv2.error, MemoryError, RuntimeError) as exc:
            return Outcome(shown(path), error=str(exc))
        from maskdash.inference.photos import faces_read_grey

        grey = faces_read_grey(result, result.rgb)
        return Outcome(result.source, result.rows(), result=result, black_and_white=grey)

    def _results(self, path: Path):
        from maskdash.imaging import ImageError, load_rgb
        from maskdash.inference.faces import analyse, classify_crop, crop_problem

        rgb = load_rgb(path)
        o = self.opts
        if o.crops:
            problem = crop_problem(rgb)
            if problem:
                raise ImageError(problem)
            return classify_crop(rgb, shown(path), self.classifier, o.threshold)
        return analyse(rgb, shown(path), self.detector, self.classifier, o.det_threshold, o.threshold)


def csv_writer(f, opts: Options) -> csv.DictWriter:
    return csv.DictWriter(f, fieldnames=opts.columns, extrasaction="ignore")


def csv_header(opts: Options) -> str:
    buf = io.StringIO()
    csv_writer(buf, opts).writeheader()
    return buf.getvalue()


def csv_text(outcomes: list[Outcome], opts: Options) -> str:
    """The outcomes' rows as CSV text without the header, exactly as the local engine writes them."""
    buf = io.StringIO()
    w = csv_writer(buf, opts)
    for o in outcomes:
        w.writerows(o.rows)
    return buf.getvalue()


def report(outcome: Outcome, err=None) -> None:
    """The line a user reads for a file that gave no rows (none for one that did)."""
    err = err or sys.stderr
    if outcome.error is not None:
        print(f"skipped {outcome.source}: {outcome.error}", file=err)
    elif outcome.no_face:
        print(f"no face found in {outcome.source}", file=err)


# -- the summary ----------------------------------------------------------------------------------
def reason_kind(reason: str) -> str:
    """A skip reason without its particulars ("corrupt or truncated image (… 5 bytes …)" →
    "corrupt or truncated image"), so that failures can be counted by kind."""
    return reason.split(" (", 1)[0]


@dataclass
class Tally:
    """Counts over a run's outcomes, enough for the summary (parts store theirs as `asdict`)."""
    images: int = 0
    images_ok: int = 0
    no_face: int = 0
    faces: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    black_and_white: int = 0  # images read that have no colour (parts saved before it lack it: 0)

    def add(self, o: Outcome) -> None:
        self.images += 1
        if o.error is not None:
            self.failures[reason_kind(o.error)] = self.failures.get(reason_kind(o.error), 0) + 1
            return
        self.images_ok += 1
        self.no_face += o.no_face
        self.faces += len(o.rows)
        self.black_and_white += o.black_and_white
        for r in o.rows:
            self.labels[r["label"]] = self.labels.get(r["label"], 0) + 1

    def merge(self, other: Tally) -> None:
        for name in ("images", "images_ok", "no_face", "faces", "black_and_white"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.labels = dict(Counter(self.labels) + Counter(other.labels))
        self.failures = dict(Counter(self.failures) + Counter(other.failures))

    @classmethod
    def of(cls, doc: dict) -> Tally:
        return cls(**doc)


def summary(tally: Tally, entries_skipped: list[tuple[Path, str]], *, engine: str, workers: int,
            seconds: float, processed: int, opts: Options | None = None) -> dict:
    """The run's summary: what made the rows (model, detector, thresholds: `opts`), counts, the share
    of each label among the faces, failures by reason, and the speed of this run (`processed`: images
    read by it; a resumed run reads fewer)."""
    failures = Counter(tally.failures) + Counter(reason_kind(r) for _, r in entries_skipped)
    share = {c: round(tally.labels.get(c, 0) / tally.faces, 4) if tally.faces else None for c in CLASSES3}
    made_by = {} if opts is None else {
        "model": settings.display_path(opts.model), "detector": opts.detector or None, "crops": opts.crops,
        "mask_threshold": opts.threshold, "detector_threshold": opts.det_threshold}
    return {
        "engine": engine, "workers": workers, **made_by,
        "images": tally.images, "images_ok": tally.images_ok, "images_without_faces": tally.no_face,
        "images_skipped": tally.images - tally.images_ok, "entries_skipped": len(entries_skipped),
        "faces": tally.faces, "labels": {c: tally.labels.get(c, 0) for c in CLASSES3}, "share": share,
        "failures": dict(sorted(failures.items())),
        "images_black_and_white": tally.black_and_white,
        "images_processed": processed, "seconds": round(seconds, 2),
        "images_per_second": round(processed / seconds, 3) if processed and seconds > 0 else None,
    }


def summary_path(csv_path: Path) -> Path:
    """faces.csv → faces.summary.json, beside it."""
    return csv_path.with_name(csv_path.stem + ".summary.json")


def write_summary(csv_path: Path, doc: dict) -> Path:
    path = summary_path(csv_path)
    with writing(path):
        write_json_atomic(path, doc)
    return path


# -- the local engine -----------------------------------------------------------------------------
def predict_local(paths: list[Path], opts: Options, out: Path, annotate_dir: Path | None = None,
                  err=None, blur: bool = False) -> Tally:
    """Every file in this process; a line on `err` for each file that gives no rows. The CSV is
    written as it goes under a temporary name and replaces `out` once complete (an interrupted run
    leaves the old CSV, never a short one that looks whole). `annotate_dir`: a numbered copy of each
    photo there (`blur`: faces pixelated). Raises WriteError when the CSV (or the annotation folder)
    cannot be written."""
    from maskdash.files import temporary_name

    err = err or sys.stderr
    predictor = Predictor(opts)
    if predictor.note:
        print(predictor.note, file=err)
    tmp = temporary_name(out)
    with writing(out):
        if annotate_dir:
            annotate_dir.mkdir(parents=True, exist_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        f = open(tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    tally = Tally()
    inputs = {resolved(p) for p in paths}
    taken: set[Path] = set()
    try:
        with f, writing(out):
            w = csv_writer(f, opts)
            w.writeheader()
            for path in paths:
                o = predictor(path)
                report(o, err)
                tally.add(o)
                w.writerows(o.rows)
                if annotate_dir and o.result is not None:
                    target = annotation_path(annotate_dir, path, inputs, taken)
                    taken.add(resolved(target))
                    _annotate(o.result, target, err, blur)
            f.flush()
            os.fsync(f.fileno())
        with writing(out):
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return tally


def resolved(path: Path) -> Path:
    """The absolute path with links followed (the path as given made absolute where it cannot be)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError for a symlink loop
        return Path(os.path.abspath(path))


def annotation_path(folder: Path, source: Path, inputs: set[Path], taken: set[Path]) -> Path:
    """Where the annotated copy of `source` goes: `<stem>.jpg` in `folder`, unless that is one of
    the inputs (an annotation folder that is also the photos' folder must not lose a photo) or
    another input's copy of this run (two folders holding an `img.jpg`); then `<stem>-annotated.jpg`,
    `<stem>-annotated-2.jpg`, … A copy left by an earlier run is replaced."""
    stem = Path(source).stem
    suffixes = itertools.chain(["", "-annotated"], (f"-annotated-{k}" for k in itertools.count(2)))
    for suffix in suffixes:  # ends: inputs and taken are finite
        target = folder / f"{stem}{suffix}.jpg"
        where = resolved(target)
        if where not in inputs and where not in taken:
            return target
    raise AssertionError("unreachable")


def _annotate(result, path: Path, err, blur: bool = False) -> None:
    import cv2

    from maskdash.inference.draw import annotate_numbered

    try:
        if result.rgb is None:
            raise ValueError("its result holds no picture")
        # numbered as the CSV's `face` column: a crowd's labels do not cover its faces
        drawn, _ = annotate_numbered(result.rgb, result.faces, blur=blur)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise ValueError("JPEG encoding failed")
        path.write_bytes(buf.tobytes())
    except (OSError, ValueError, cv2.error) as exc:
        print(f"could not save the annotated copy of {result.source}: {exc}", file=err)
