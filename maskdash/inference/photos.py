"""One uploaded photo → a `Results` (faces, verdicts, an annotated copy, CSV rows) for the Photos
page, and the page's helpers that need no Streamlit.

Lives outside the page so that every kind of bad upload can be tested directly: whatever the
bytes are, `process_upload` returns a Results or a PhotoError with a message for the user,
never raises."""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from maskdash.imaging import DECODE_MAX_PIXELS, ImageError, load_rgb, resize
from maskdash.inference.draw import annotate_numbered
from maskdash.inference.faces import analyse
from maskdash.inference.results import Results
from maskdash.labels import COMPLIANT, INCORRECT, NOT_COMPLIANT, UNCERTAIN, WITH_MASK, WITHOUT_MASK, compliance

log = logging.getLogger(__name__)

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
DISPLAY_MAX_SIDE = 1600  # what a page shows; downloads keep full resolution
# A strip such as 20000×12 px shrinks to 1600×1, which Streamlit shrinks again to a height of
# 0 and fails on. Display copies are padded (never stretched) to at most this aspect ratio.
DISPLAY_MAX_ASPECT = 10
DISPLAY_PAD = 240  # light grey padding around such a strip
# Photos smaller than this are enlarged before drawing, so that the numbers stay sharp when the
# page shows the photo at its full width.
VIEW_MIN_SIDE = 1280
# How the page answers: the model's classes, or the two-answer view (only a mask worn properly
# is compliant; no mask and a mask below the nose are not).
THREE_CLASSES, COMPLIANCE = "three classes", "compliant / not compliant"
ANSWERS = (THREE_CLASSES, COMPLIANCE)


@dataclass
class PhotoError:
    name: str
    message: str


def _describe(data: bytes, analysed: tuple[int, int]) -> list[str]:
    """Notes on what decoding had to change (first frame of an animation, CMYK, 16 bits,
    transparency, a photo decoded at reduced size: `analysed` is the size it was analysed at).
    Only reads the header; failures here are left to load_rgb to report."""
    notes = []
    try:
        with warnings.catch_warnings():  # load_rgb has judged the size already
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                notes.append(f"animated image ({frames} frames): only the first frame was analysed")
            if img.mode == "CMYK":
                notes.append("CMYK colours were converted to RGB")
            if img.mode.startswith("I;16") or img.mode == "I":
                notes.append("16-bit image reduced to 8 bits per channel")
            elif img.mode == "F":
                notes.append("floating-point image reduced to 8 bits per channel")
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                notes.append("transparent parts were put on white")
            w, h = img.size
            if w * h > DECODE_MAX_PIXELS:  # load_rgb decoded it at reduced size
                notes.append(f"a {w}×{h} photo ({w * h / 1e6:.0f} megapixels) is analysed, drawn and downloaded at "
                             f"{analysed[0]}×{analysed[1]} (photos over {DECODE_MAX_PIXELS / 1e6:.0f} megapixels are "
                             "decoded at reduced size)")
    except Exception:  # noqa: BLE001 - a header we cannot read is load_rgb's to explain
        pass
    return notes


SMALLEST_PHOTO_PX = 24  # a face needs ~12 px to be found, and a face fills a fraction of its photo


def no_face_advice(size: tuple[int, int], detector_name: str, default_name: str, labels: dict[str, str]) -> str:
    """What to tell a user whose photo gave no face: too small a picture, or what else to try."""
    w, h = size
    if min(w, h) < SMALLEST_PHOTO_PX:
        return (f"No face found: this picture is only {w}×{h} px, too small to hold a face the detectors can find "
                f"(a face needs to be about 12 px tall or more).")
    tries = ("a lower detector threshold" if detector_name == default_name
             else f"the detector {labels.get(default_name, default_name)} or a lower detector threshold")
    return (f"No face found in this photo. Try {tries}; very small faces and strongly turned heads are often "
            "missed (see \"How far to trust a count\" above).")


def process_upload(name: str, data: bytes, detector, classifier, det_threshold: float | None = None,
                   mask_threshold: float = 0.5) -> Results | PhotoError:
    """Decode (EXIF orientation honoured), detect, classify. Any failure → PhotoError."""
    try:
        rgb = load_rgb(bytes(data))
    except ImageError as exc:
        return PhotoError(name, f"cannot use this file: {exc}")
    except MemoryError:
        return PhotoError(name, "cannot use this file: not enough memory to decode it")
    try:
        result = analyse(rgb, name, detector, classifier, det_threshold, mask_threshold)
    except (cv2.error, ValueError, RuntimeError, MemoryError) as exc:
        log.exception("face search failed for %r", name)
        return PhotoError(name, f"the face search failed on this image ({type(exc).__name__}: {exc})")
    result.notes = _describe(data, result.size)
    if faces_read_grey(result, rgb):
        result.notes.append(black_and_white_note(shipped_metrics()))
    return result


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy small enough to send to a browser (a 12 MP photo would be 36 MB a rerun), padded
    when it is a strip too thin to show (see DISPLAY_MAX_ASPECT)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    out = rgb if scale == 1.0 else resize(rgb, max(1, round(w * scale)), max(1, round(h * scale)))
    h, w = out.shape[:2]
    min_side = -(-max(h, w) // DISPLAY_MAX_ASPECT)  # ceil
    if min(h, w) >= min_side:
        return out
    pad_h, pad_w = max(0, min_side - h), max(0, min_side - w)
    return cv2.copyMakeBorder(out, pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2,
                              cv2.BORDER_CONSTANT, value=(DISPLAY_PAD,) * 3)


def view_scale(width: int, height: int) -> float:
    """The scale the page draws a photo at: small ones enlarged to VIEW_MIN_SIDE, large ones
    reduced to DISPLAY_MAX_SIDE (the download keeps the original size)."""
    side = max(width, height, 1)
    return min(DISPLAY_MAX_SIDE / side, max(1.0, VIEW_MIN_SIDE / side))


VIEW_MAX_HEIGHT = 900  # px on screen: a portrait photo at the full content width needed a screen and a half


def view_width(width: int, height: int) -> int | str:
    """The on-screen width of a photo: the content width ("stretch"), narrower for a portrait
    photo so that its height stays within VIEW_MAX_HEIGHT (the full-size view and download remain)."""
    if width >= height:
        return "stretch"
    return max(200, round(VIEW_MAX_HEIGHT * width / max(height, 1)))


BLACK_AND_WHITE_SPREAD = 6  # channel spread (0–255) below which a photo counts as black and white


def is_black_and_white(rgb: np.ndarray) -> bool:
    """Whether a photo has no colour: its channels agree up to JPEG's chroma noise almost everywhere
    (a sepia or tinted print has a colour, and is not counted)."""
    small = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)].astype(np.int16)
    spread = small.max(axis=2) - small.min(axis=2)
    return bool(np.percentile(spread, 99) <= BLACK_AND_WHITE_SPREAD)


def faces_read_grey(result: Results, rgb: np.ndarray | None) -> bool:
    """Were faces read from a picture with no colour? (What grey costs is about faces: a blank grey
    picture with none has nothing to say.) The one rule for the Photos page and `predict`."""
    return bool(result.faces) and rgb is not None and is_black_and_white(rgb)


def shipped_metrics() -> dict | None:
    """The shipped model's report, or None when it is missing or unreadable (a figure is lost, not a photo)."""
    from maskdash.evaluation.shipped import ReportError, load_metrics

    try:
        return load_metrics("robust")
    except ReportError:
        return None


def black_and_white_note(metrics: dict | None, subject: str = "Black-and-white photo") -> str:
    """What a black-and-white photo costs, from the shipped model's report (`report`: the dev
    holdout's labelled faces turned grey)."""
    text = f"{subject}: the model learnt from colour photos and reads faces without colour less reliably"
    grey = (metrics or {}).get("dev_scenes_holdout_grayscale") or {}
    kept = [f"{c.replace('_', ' ')} {100 * r['kept']:.0f} % (in colour {100 * r['kept_colour']:.0f} %)"
            for c, r in grey.items() if c in (WITH_MASK, WITHOUT_MASK) and None not in (r.get("kept"), r.get("kept_colour"))]
    if kept:
        text += " — on street photos it never learnt from, faces turned grey kept their label: " + ", ".join(kept)
    return text + "."


def view_copy(rgb: np.ndarray) -> np.ndarray:
    """The picture at `view_scale`: what the session keeps to draw on at every rerun."""
    h, w = rgb.shape[:2]
    s = view_scale(w, h)
    if s == 1.0:
        return rgb
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def encode_view(rgb: np.ndarray) -> bytes:
    """The page's drawing copy as high-quality JPEG bytes, the form a session keeps it in."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def decode_view(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def annotated_png(rgb: np.ndarray, faces, blur: bool = False, answers: str = THREE_CLASSES) -> bytes:
    """The full-size annotated photo as PNG (faces numbered as in the table); `blur`: faces
    pixelated, boxes and labels kept; `answers`: the words drawn, as the page answers."""
    drawn, _ = annotate_numbered(rgb, faces, blur=blur, words=drawn_words(answers))
    return encode_png(drawn)


def counts(results: list[Results]) -> dict:
    """Faces found, masked, unmasked and worn incorrectly (when the model says so), compliant and
    not, and the share masked (= the share compliant), over `results` (one photo or a batch).
    share_masked is None without faces; three_class: some face has a p_incorrect (the faces came
    from a three-class model)."""
    faces = [f for r in results for f in r.faces]
    labels = [f.label for f in faces]
    n = len(labels)
    out = {"faces": n, "with_mask": labels.count(WITH_MASK), "without_mask": labels.count(WITHOUT_MASK),
           "incorrect": labels.count(INCORRECT)}
    out["compliant"] = sum(compliance(label) == COMPLIANT for label in labels)
    out["not_compliant"] = n - out["compliant"]
    out["share_masked"] = out["with_mask"] / n if n else None
    out["three_class"] = any(f.p_incorrect == f.p_incorrect for f in faces)
    return out


PHOTO_COLUMNS = ["photo", "status", "faces", WITH_MASK, WITHOUT_MASK, INCORRECT, "share_masked"]


def photos_csv(outcomes: list) -> bytes:
    """One row per uploaded file, in upload order — analysed (with its counts, 0 faces included)
    or not (with the reason): the faces CSV has rows only for faces, so a photo without any, or a
    file that could not be read, would not appear in it at all."""
    import pandas as pd

    rows = []
    for out in outcomes:
        if isinstance(out, PhotoError):
            rows.append({"photo": out.name, "status": out.message})
            continue
        c = counts([out])
        rows.append({"photo": out.source, "status": "analysed", "faces": c["faces"], WITH_MASK: c["with_mask"],
                     WITHOUT_MASK: c["without_mask"], INCORRECT: c["incorrect"],
                     "share_masked": None if c["share_masked"] is None else round(c["share_masked"], 4)})
    table = pd.DataFrame(rows, columns=PHOTO_COLUMNS)
    for col in ("faces", WITH_MASK, WITHOUT_MASK, INCORRECT):
        table[col] = table[col].astype("Int64")  # empty, not 0, for a file that was not analysed
    return table.to_csv(index=False).encode()


def drawn_words(answers: str = THREE_CLASSES) -> dict[str, str] | None:
    """The words drawn beside the boxes for this view of the answers (None: the drawing's own)."""
    if answers != COMPLIANCE:
        return None
    return {label: compliance(label) for label in (WITH_MASK, WITHOUT_MASK, INCORRECT)} | {UNCERTAIN: "?"}


def answer(label: str, answers: str = THREE_CLASSES) -> str:
    """A face's label as the page answers: the label itself, or compliant / not compliant."""
    return compliance(label) if answers == COMPLIANCE else label


def summary_line(c: dict, answers: str = THREE_CLASSES) -> str:
    """One photo's (or the batch's) counts in a line of Markdown."""
    if answers == COMPLIANCE:
        return (f"**{c['faces']} face(s)**: {c['compliant']} {COMPLIANT}, {c['not_compliant']} {NOT_COMPLIANT}"
                f" · {_pct(c['share_masked'])} compliant")
    parts = [f"{c['with_mask']} with mask", f"{c['without_mask']} without"]
    if c["incorrect"]:
        parts.append(f"{c['incorrect']} with the mask below the nose")
    return f"**{c['faces']} face(s)**: " + ", ".join(parts) + f" · {_pct(c['share_masked'])} masked"


def summary_metrics(c: dict, answers: str = THREE_CLASSES) -> list[tuple[str, object, str | None]]:
    """The batch's figures as (label, value, help) for the page's metrics."""
    if answers == COMPLIANCE:
        return [("Faces found", c["faces"], None), ("Compliant", c["compliant"], "A mask worn over mouth and nose."),
                ("Not compliant", c["not_compliant"], "No mask, or a mask worn below the nose."),
                ("Share compliant", _pct(c["share_masked"]), "Compliant faces among all faces found.")]
    out = [("Faces found", c["faces"], None), ("With mask", c["with_mask"], None),
           ("Without mask", c["without_mask"], None)]
    if c["incorrect"] or c["three_class"]:
        out.append(("Mask below nose", c["incorrect"], "A mask worn below the nose or on the chin."))
    out.append(("Share masked", _pct(c["share_masked"]), "With mask (worn properly) among all faces found."))
    return out


def face_table(res: Results, answers: str = THREE_CLASSES):
    """The page's table of one photo's faces: number, label (or compliant / not compliant),
    p(with_mask), p(mask_incorrect) when the model gives one, detector score, box."""
    import pandas as pd

    t = res.table()
    table = pd.DataFrame({"face": t["face"]})
    if answers == COMPLIANCE:
        table["compliance"] = [compliance(label) for label in t["label"]]
    else:
        table["label"] = t["label"]
    table["p_mask"] = t["p_mask"]
    if counts([res])["three_class"]:
        table["p_incorrect"] = pd.to_numeric(t["p_incorrect"])
    table["detector score"] = t["det_score"]
    table["box (x1, y1, x2, y2)"] = [f"{a}, {b}, {c}, {d}" for a, b, c, d in zip(t["x1"], t["y1"], t["x2"], t["y2"])]
    return table


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.0f} %"


def limits_text(scenes: dict, detector: str) -> str:
    """What the detector misses, in words, from the committed whole-pipeline figures
    (shipped.load_scenes), so that a user knows how far to trust a count."""
    from maskdash.evaluation.shipped import small_face_limit

    a = scenes["all"]
    small = small_face_limit(scenes)
    inc = (scenes.get("per_class") or {}).get(INCORRECT) or {}
    from maskdash.inference.detection import LABELS

    parts = [f"On {scenes['images']} street photos the model never learnt from, {LABELS.get(scenes['detector'], scenes['detector'])} found "
             f"{_pct(a.get('found_share'))} of the {a['n']:,} faces, and {_pct(a.get('right_share'))} were found "
             "and labelled right."]
    if small:
        parts.append(f"Faces under {small['max_px']} px tall are the weak spot: only {_pct(small['right'])} of "
                     f"them ({small['n']} faces) were found and labelled right.")
    parts.append("Strongly turned heads (profiles) and faces half hidden behind others are often missed.")
    if inc.get("n"):
        parts.append(f"A mask worn below the nose is told apart from a proper mask only {_pct(inc.get('right_share'))} "
                     f"of the time ({inc['n']} faces).")
    parts.append(f"About {scenes['false_positives_per_image']:.2f} false detections per photo. On a crowd, read the "
                 "face count as a lower bound and the shares as approximate.")
    if detector != scenes["detector"]:
        parts.append(f"These figures are for {LABELS.get(scenes['detector'], scenes['detector'])}; "
                     f"{LABELS.get(detector, detector)}, chosen here, was not measured this way (YuNet + face head "
                     "is the detector made for crowds).")
    return " ".join(parts)


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def download_name(name: str, suffix: str = "_masks.png") -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}{suffix}"


# Characters that can start Markdown (or a link, HTML, LaTeX) in a name; '.', '-' and an
# intraword '_' are left as they are, so ordinary file names read the same in the page's source.
_MD_ESCAPE = re.compile(r"([\\`*\[\]<>$~|#@:&+]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")
# Streamlit rewrites some text after Markdown escapes are resolved (:emoji: and :material/…:
# shortcodes, :color[…] directives, "->" and "--" into arrows and dashes); an invisible word
# joiner inside each such pair keeps them from matching.
_JOINER = "\u2060"
_JOIN = re.compile(r"(?<=:)|(?<=[-<>~])(?=[-<>=])")


def plain_markdown(text: str) -> str:
    """`text` (a user's file name) as Markdown that Streamlit shows as exactly that text: no link,
    emphasis, heading, list, HTML, LaTeX, emoji or colour. Control characters show as escapes."""
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)
    text = _JOIN.sub(_JOINER, text)
    text = _MD_ESCAPE.sub(r"\\\1", text)
    text = re.sub(r"^(\d+)([.)])", r"\1\\\2", text)  # "1. x" would start a list
    text = re.sub(r"(?i)\bwww\.", lambda m: m.group()[:-1] + "\\.", text)  # GFM links bare www. names
    return "\\" + text if text.startswith("-") else text  # "- x" would start a list
