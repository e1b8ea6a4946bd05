"""Photos: every kind of bad upload gets its own clear message while the good photos are still
analysed. Checked on `maskdash.inference.photos.process_upload` directly and through the page (AppTest
uploads the files). The good photo is assembled from real Face Mask 12K test faces."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from media import downloaded, served
from maskdash.imaging import load_rgb, resize
from maskdash.inference.photos import VIEW_MAX_HEIGHT, PhotoError, process_upload, view_width
from maskdash.inference.results import SCENE_COLUMNS, Results, results_csv

ROOT = Path(__file__).resolve().parent.parent
# Faces that YuNet finds at 200 px on a grey canvas (one of each class).
MASKED, UNMASKED = "Test/WithMask/1174.jpg", "Test/WithoutMask/1015.jpg"
SLOTS = {"with_mask": (40, 140), "without_mask": (440, 140)}  # (x, y) of each 200 px face


# ---------------------------------------------------------------- inputs


def _jpeg(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def scene(fm12k) -> np.ndarray:
    """A 680×480 photo: a masked face left, an unmasked face right (real test images)."""
    canvas = np.full((480, 680, 3), 128, np.uint8)
    for rel, (x, y) in zip((MASKED, UNMASKED), SLOTS.values()):
        canvas[y : y + 200, x : x + 200] = resize(load_rgb(fm12k / rel), 200, 200)
    return canvas


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width×height black pixels: ~50 MB of zero rows deflate to ~50 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row * 1000) for _ in range(height // 1000)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def uploads(scene) -> dict[str, bytes]:
    good = _jpeg(scene)
    frames = [Image.fromarray(scene), Image.fromarray(scene[:, ::-1].copy()), Image.fromarray(255 - scene)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    cmyk = io.BytesIO()
    Image.fromarray(scene).convert("CMYK").save(cmyk, "JPEG", quality=92)
    gray16 = io.BytesIO()
    g = np.asarray(Image.fromarray(scene).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(g).save(gray16, "PNG")  # mode I;16
    assert Image.open(io.BytesIO(gray16.getvalue())).mode.startswith("I;16")
    # EXIF orientation 6 ("rotate 90° clockwise to display"): pixels stored turned a quarter.
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = _jpeg(np.rot90(scene, 1).copy(), exif=exif.tobytes())
    return {
        "faces.jpg": good,
        "turned_exif.jpg": turned,
        "animated.gif": gif.getvalue(),
        "cmyk.jpg": cmyk.getvalue(),
        "gray16.png": gray16.getvalue(),
        "random.jpg": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty.png": b"",
        "truncated.jpg": good[: len(good) // 3],
        "bomb.png": png_bomb(),
        "no_face.png": _png(np.full((300, 400, 3), 90, np.uint8)),
    }


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


BAD = {
    "random.jpg": "not an image",
    "empty.png": "empty file",
    "truncated.jpg": "truncated",
    "bomb.png": "too large",
}


@pytest.fixture(scope="module")
def classifier(shipped_model):
    from maskdash.model.runtime import load_classifier

    return load_classifier()


@pytest.fixture(scope="module")
def detector():
    from maskdash.inference.detection import default_photo_detector, make_detector_or_fallback

    det, _ = make_detector_or_fallback(default_photo_detector())
    return det


def _labels_by_slot(result: Results) -> dict[str, str]:
    """Which label each face slot got (a face is matched to the slot holding its box centre)."""
    out = {}
    for f in result.faces:
        cx = (f.box[0] + f.box[2]) / 2
        for truth, (x, _) in SLOTS.items():
            if x <= cx <= x + 200:
                out[truth] = f.label
    return out


# ---------------------------------------------------------------- process_upload


def test_real_photo_gets_both_faces_right(uploads, detector, classifier):
    res = process_upload("faces.jpg", uploads["faces.jpg"], detector, classifier)
    assert isinstance(res, Results), res
    assert res.size == (680, 480) and res.notes == []
    assert _labels_by_slot(res) == {"with_mask": "with_mask", "without_mask": "without_mask"}
    table = res.table()
    assert list(table.columns) == SCENE_COLUMNS
    assert set(table["path"]) == {"faces.jpg"} and list(table["face"]) == list(range(len(table)))
    assert table["p_mask"].between(0, 1).all() and table["det_score"].between(0, 1).all()
    ann = res.annotated()
    assert ann.shape == res.rgb.shape and not np.array_equal(ann, res.rgb)


def test_exif_orientation_is_honoured(uploads, detector, classifier):
    res = process_upload("turned_exif.jpg", uploads["turned_exif.jpg"], detector, classifier)
    assert isinstance(res, Results)
    assert res.size == (680, 480)  # turned upright, so the faces are found where they belong
    assert _labels_by_slot(res) == {"with_mask": "with_mask", "without_mask": "without_mask"}


@pytest.mark.parametrize("name,note", [
    ("animated.gif", "animated image (3 frames)"),
    ("cmyk.jpg", "CMYK"),
    ("gray16.png", "16-bit"),
])
def test_unusual_but_valid_images_are_analysed_with_a_note(uploads, detector, classifier, name, note):
    res = process_upload(name, uploads[name], detector, classifier)
    assert isinstance(res, Results), res
    assert any(note in n for n in res.notes), res.notes
    assert res.rgb.dtype == np.uint8 and res.rgb.shape == (480, 680, 3)
    assert len(res.faces) >= 1


def test_black_and_white_photos_say_what_it_costs(uploads, scene, detector, classifier):
    grey_rgb = _jpeg(np.asarray(Image.fromarray(scene).convert("L").convert("RGB")))  # colourless, stored as RGB
    for name, data, expected in (("gray16.png", uploads["gray16.png"], True), ("grey.jpg", grey_rgb, True),
                                 ("faces.jpg", uploads["faces.jpg"], False), ("cmyk.jpg", uploads["cmyk.jpg"], False)):
        res = process_upload(name, data, detector, classifier)
        assert isinstance(res, Results) and res.faces, res
        notes = [n for n in res.notes if n.startswith("Black-and-white photo")]
        assert bool(notes) == expected, (name, res.notes)
        if expected:  # the shipped model's measured figures, not only a warning
            assert "kept their label" in notes[0] and "without mask" in notes[0], notes
    # a grey picture with no face: what grey costs faces is beside the point
    blank = _jpeg(np.full((200, 300, 3), 90, np.uint8))
    res = process_upload("blank.jpg", blank, detector, classifier)
    assert isinstance(res, Results) and not res.faces
    assert not [n for n in res.notes if n.startswith("Black-and-white photo")], res.notes


def test_portrait_photos_are_shown_no_taller_than_a_screen():
    assert view_width(1280, 720) == "stretch"
    assert view_width(301, 400) == round(VIEW_MAX_HEIGHT * 301 / 400)
    assert view_width(20, 4000) == 200  # a strip stays visible


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_get_a_clear_message(uploads, detector, classifier, name):
    res = process_upload(name, uploads[name], detector, classifier)
    assert isinstance(res, PhotoError)
    assert res.name == name
    assert res.message.startswith("cannot use this file: ") and BAD[name] in res.message
    assert "Traceback" not in res.message


def test_no_face_is_a_result_with_no_faces(uploads, detector, classifier):
    res = process_upload("no_face.png", uploads["no_face.png"], detector, classifier)
    assert isinstance(res, Results) and res.faces == [] and res.table().empty


def test_csv_for_all_photos_has_predict_scene_columns(uploads, detector, classifier):
    results = [process_upload(n, uploads[n], detector, classifier) for n in ("faces.jpg", "cmyk.jpg", "no_face.png")]
    df = pd.read_csv(io.StringIO(results_csv(results)))
    assert list(df.columns) == SCENE_COLUMNS
    assert set(df["path"]) <= {"faces.jpg", "cmyk.jpg"}
    assert len(df) == sum(len(r.faces) for r in results)
    assert set(df["label"]) <= {"with_mask", "without_mask"}


# ---------------------------------------------------------------- the page


def test_page_reports_each_bad_file_and_still_analyses_the_good_ones(uploads, classifier):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("views/photos.py")
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Photos"]
    names = ["faces.jpg", "random.jpg", "empty.png", "truncated.jpg", "bomb.png", "animated.gif", "no_face.png"]
    at.file_uploader[0].set_value([(n, uploads[n], "application/octet-stream") for n in names])
    at.run()
    assert not at.exception
    errors = {e.value.split("**")[1]: e.value for e in at.error}
    assert set(errors) == set(BAD)
    for name, why in BAD.items():
        assert why in errors[name]
    assert [s.value for s in at.main.subheader] == ["faces.jpg", "animated.gif", "no_face.png"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Photos analysed"] == "3 of 7"
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 2  # faces.jpg and animated.gif; no_face.png gets a note instead
    first = tables[0]
    assert list(first.columns) == ["face", "label", "p_mask", "p_incorrect", "detector score", "box (x1, y1, x2, y2)"]
    assert sorted(first["label"]) == ["with_mask", "without_mask"]
    assert first["p_mask"].between(0, 1).all()
    for box in first["box (x1, y1, x2, y2)"]:
        x1, y1, x2, y2 = map(int, box.split(", "))
        assert 0 <= x1 < x2 <= 680 and 0 <= y1 < y2 <= 480
    assert any("No face found" in w.value for w in at.warning)
    assert any("animated image" in i.value for i in at.info)
    assert not any("Traceback" in m.value for m in at.markdown)


def test_a_batch_where_no_file_can_be_read_still_offers_the_list_of_files_and_why(uploads, classifier,
                                                                                     media_managers):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("views/photos.py")
    at.run()
    names = ["empty.png", "truncated.jpg"]
    at.file_uploader[0].set_value([(n, uploads[n], "application/octet-stream") for n in names])
    at.run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert not any("faces of all photos" in label for label in labels)  # no faces, no faces CSV
    [button] = [b for b in at.get("download_button") if "row per photo" in b.proto.label]
    rows = pd.read_csv(io.StringIO(downloaded(media_managers, button).decode()))
    assert len(rows) == 2 and all(n in " ".join(map(str, rows.iloc[:, 0])) for n in names)


def test_upload_limit_is_configured():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    limit = config["server"]["maxUploadSize"]  # MB per file, enforced by Streamlit before our code
    assert isinstance(limit, int) and 10 <= limit <= 200


def test_display_copy_is_bounded_and_keeps_the_aspect(scene):
    from maskdash.inference.photos import display_copy

    big = np.repeat(np.repeat(scene, 5, axis=0), 5, axis=1)  # 3400×2400
    small = display_copy(big)
    assert small.shape == (1129, 1600, 3)
    assert display_copy(scene) is scene


def test_display_copy_pads_strips_too_thin_to_show():
    """A 20000×12 strip shrinks to 1600×1, which Streamlit shrinks again to a height of 0 and
    fails on; the display copy is padded instead (never stretched)."""
    from maskdash.inference.photos import display_copy

    strip = np.full((12, 20000, 3), 50, np.uint8)
    shown = display_copy(strip)
    assert shown.shape == (160, 1600, 3)
    strip_rows = np.flatnonzero((shown != 240).any(axis=(1, 2)))  # the strip, centred, on grey
    assert len(strip_rows) == 1 and 75 <= strip_rows[0] <= 85 and (shown[strip_rows[0]] == 50).all()
    assert display_copy(np.full((20000, 12, 3), 50, np.uint8)).shape == (1600, 160, 3)


def _noise_png(width: int, height: int, seed: int = 0) -> bytes:
    return _png(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _photos_page(files: list[tuple[str, bytes]]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("views/photos.py")
    at.run()
    at.file_uploader[0].set_value([(n, data, "application/octet-stream") for n, data in files])
    at.run()
    return at


def test_page_shows_every_photo_of_a_batch_with_strip_shaped_images(uploads, classifier):
    strips = {"wide_20000x12.png": (20000, 12), "wide_10000x3.png": (10000, 3), "wide_60000x11.png": (60000, 11)}
    files = [("faces.jpg", uploads["faces.jpg"])] + [(n, _noise_png(w, h)) for n, (w, h) in strips.items()]
    files.append(("no_face.png", uploads["no_face.png"]))
    at = _photos_page(files)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.main.subheader] == [n for n, _ in files]
    assert {m.label: m.value for m in at.metric}["Photos analysed"] == "5 of 5"
    captions = [c for img in at.main.image for c in img.captions]
    assert len(captions) == 5
    for name, (w, h) in strips.items():
        assert any(c.startswith(f"{name} · {w}×{h} px") for c in captions), captions


def _rendered(markdown: str) -> tuple[str, str]:
    """(HTML, visible text) of Markdown as CommonMark with GFM tables and strikethrough; the
    invisible word joiners that keep Streamlit's shortcodes from matching are dropped."""
    import html
    import re

    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    return out, html.unescape(re.sub(r"<[^>]+>", "", out)).strip().replace("\u2060", "")


NAMES = ["[click](http://example.com) **bold**.jpg", "_it_ <b>x</b> $x$ :smile: :red[y] -> www.a.com.png",
         "1. list `code` ~~gone~~ a@b.com # x.jpg"]


@pytest.mark.parametrize("name", NAMES + ["- item", "no_face.png"])
def test_plain_markdown_renders_as_the_name(name):
    from maskdash.inference.photos import plain_markdown

    out, text = _rendered(plain_markdown(name))
    assert text == name
    assert not any(tag in out for tag in ("<a ", "<strong>", "<em>", "<code>", "<del>", "<li>", "<h1>", "<b>"))
    assert ":smile:" not in plain_markdown(name) and ":red[" not in plain_markdown(name)


def test_page_shows_file_names_as_plain_text(uploads, classifier):
    """A file name is shown as it is, never as Markdown (a link, bold text, an emoji)."""
    files = [(NAMES[0], uploads["faces.jpg"]), (NAMES[1], uploads["no_face.png"]), (NAMES[2], b"not an image")]
    at = _photos_page(files)
    assert not at.exception, at.exception
    headings = [s.value for s in at.main.subheader]
    assert [_rendered(h)[1] for h in headings] == NAMES[:2]
    assert not any("<a " in _rendered(h)[0] or "<strong>" in _rendered(h)[0] for h in headings)
    captions = [c for img in at.main.image for c in img.captions]
    assert [_rendered(c)[1].split(" · ")[0] for c in captions] == NAMES[:2]
    [error] = [e.value for e in at.error]
    out, text = _rendered(error)
    assert text.startswith(NAMES[2] + ": cannot use this file") and out.count("<strong>") == 1


# ---------------------------------------------------------------- reading a crowd: numbers, highlight, blur, summary


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _boxes(table: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    return [tuple(map(int, b.split(", "))) for b in table["box (x1, y1, x2, y2)"]]


def _inside(shape, boxes) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        mask[max(0, y1):y2, max(0, x1):x2] = True
    return mask


def test_drawn_numbers_match_the_csv_rows(uploads, detector, classifier):
    """Each face's number is drawn beside the box its CSV row gives, at full size and on the
    page's drawing-size copy."""
    from maskdash.inference.draw import annotate_numbered
    from maskdash.inference.photos import view_copy

    res = process_upload("faces.jpg", uploads["faces.jpg"], detector, classifier)
    rows = pd.read_csv(io.StringIO(results_csv([res])))
    assert len(rows) == len(res.faces) >= 2
    view = view_copy(res.rgb)
    for image, scale in ((res.rgb, 1.0), (view, view.shape[1] / res.size[0])):
        _, tags = annotate_numbered(image, res.faces, scale=scale)
        for row in rows.itertuples():
            tag = tags[row.face]
            assert tag.face == row.face and tag.text.split()[0] == str(row.face)
            box = tuple(int(round(v * scale)) for v in (row.x1, row.y1, row.x2, row.y2))
            assert all(abs(a - b) <= 1 for a, b in zip(tag.box, box))
            lx1, ly1, lx2, ly2 = tag.rect  # the label touches its own box
            assert lx1 <= box[2] and box[0] <= lx2 and ly1 <= box[3] and box[1] <= ly2


def test_page_summarises_each_photo_and_the_batch_and_says_what_is_missed(uploads, classifier):
    from maskdash.evaluation import shipped

    at = _photos_page([("faces.jpg", uploads["faces.jpg"]), ("no_face.png", uploads["no_face.png"])])
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Faces found"] == "2" and metrics["With mask"] == "1" and metrics["Without mask"] == "1"
    assert metrics["Share masked"] == "50 %"
    assert any(m.value == "**2 face(s)**: 1 with mask, 1 without · 50 % masked" for m in at.markdown)
    scenes = shipped.load_scenes("robust")
    small = shipped.small_face_limit(scenes)
    [note] = [i.value for i in at.info if "How far to trust a count" in i.value]
    assert f"Faces under {small['max_px']} px tall" in note and f"{100 * small['right']:.0f} %" in note
    from maskdash.inference.detection import LABELS

    assert f"{100 * scenes['all']['right_share']:.0f} %" in note and LABELS[scenes["detector"]] in note
    # The note sits with the batch's counts, before the first photo's section.
    order = [e.value for e in at.main if isinstance(getattr(e, "value", None), str)]
    assert order.index(next(v for v in order if "How far to trust" in str(v))) < order.index(
        next(v for v in order if str(v).startswith("**2 face(s)**")))


def test_selecting_a_face_highlights_it_on_the_photo(uploads, classifier, media_managers):
    from maskdash.inference.photos import view_scale

    at = _photos_page([("faces.jpg", uploads["faces.jpg"])])
    assert not at.exception, at.exception
    [pick] = [s for s in at.selectbox if s.label.startswith("Highlight a face")]
    assert pick.value is None and len(pick.options) == 3  # none, face 0, face 1
    before = _decoded(served(media_managers, at.main.image[0].value[0]))
    boxes = _boxes(at.dataframe[0].value)
    pick.set_value(1).run()
    assert not at.exception, at.exception
    after = _decoded(served(media_managers, at.main.image[0].value[0]))
    assert before.shape == after.shape
    s = view_scale(680, 480)
    assert after.shape[:2] == (round(480 * s), round(680 * s))
    changed = np.argwhere((before != after).any(axis=2))
    assert len(changed)
    centre = changed.mean(axis=0)[::-1] / s  # (x, y) of the change, in photo pixels
    # the change is around face 1, nearer to it than to face 0
    d = [np.hypot(centre[0] - (b[0] + b[2]) / 2, centre[1] - (b[1] + b[3]) / 2) for b in boxes]
    assert d[1] < d[0]
    assert not any("Below the default" in c.value for c in at.sidebar.caption)
    at.sidebar.slider[0].set_value(0.3).run()  # looser than the default: a warning about what a count then means
    assert any("Below the default" in c.value for c in at.sidebar.caption)
    # a stricter detector threshold that leaves fewer faces: the highlight goes back to none, no error
    at.sidebar.slider[0].set_value(0.95).run()
    assert not at.exception, at.exception
    [pick] = [s for s in at.selectbox if s.label.startswith("Highlight a face")] or [None]
    if pick is not None:  # face 1 stays highlighted while it exists, else none is
        assert pick.value == (1 if len(pick.options) > 2 else None), (pick.value, pick.options)


def test_blur_option_changes_the_face_pixels_of_the_download_only(uploads, classifier, media_managers):
    at = _photos_page([("faces.jpg", uploads["faces.jpg"])])
    assert not at.exception, at.exception
    blur = at.sidebar.checkbox(key="photo_blur")
    assert blur.value is False  # off by default
    [button] = [b for b in at.get("download_button") if "annotated image" in b.proto.label]
    plain = _decoded(downloaded(media_managers, button))
    boxes = _boxes(at.dataframe[0].value)
    blur.check().run()
    assert not at.exception, at.exception
    [button] = [b for b in at.get("download_button") if "annotated image" in b.proto.label]
    assert "blurred" in button.proto.label
    blurred = _decoded(downloaded(media_managers, button))
    assert plain.shape == blurred.shape == (480, 680, 3)  # full size
    inside = _inside(plain.shape, boxes)
    assert np.array_equal(plain[~inside], blurred[~inside])  # boxes, labels and the rest unchanged
    for x1, y1, x2, y2 in boxes:
        assert not np.array_equal(plain[y1 + 5:y2 - 5, x1 + 5:x2 - 5], blurred[y1 + 5:y2 - 5, x1 + 5:x2 - 5])
    csv = [b for b in at.get("download_button") if "CSV" in b.proto.label]
    text = downloaded(media_managers, csv[0]).decode()
    assert list(pd.read_csv(io.StringIO(text)).columns) == SCENE_COLUMNS  # no image data, blurred or not


def _scenes_doc(shares: list[float | None], detector: str = "yunet-multiscale") -> dict:
    bins = ["0-12", "12-16", "16-24", "24-32", "32-48", "48+"]
    rows = [{"bin": b, "n": 10, "found": 10, "right": round(10 * (s or 0)), "right_share": s,
             "found_share": 1.0, "per_class": {}} for b, s in zip(bins, shares)]
    return {"detector": detector, "images": 5, "min_iou": 0.4, "false_positives_per_image": 0.5,
            "all": {"n": 60, "found": 50, "found_share": 50 / 60, "right": 45, "right_share": 0.75},
            "per_class": {"mask_incorrect": {"n": 4, "right_share": 0.25}}, "by_height": rows}


def test_small_face_limit_pools_the_weak_bins_from_the_smallest_up():
    from maskdash.evaluation.shipped import small_face_limit

    assert small_face_limit(_scenes_doc([0.5, 0.7, 0.9, 0.6, 0.9, 0.9])) == {"max_px": 16, "right": 0.6, "n": 20}
    assert small_face_limit(_scenes_doc([0.8, 0.7, 0.9, 0.9, 0.9, 0.9])) is None  # the smallest bin is fine
    assert small_face_limit(_scenes_doc([0.1] * 6))["max_px"] == 48  # never "48+"


def test_limits_text_says_what_is_missed_and_for_which_detector():
    from maskdash.inference.photos import limits_text

    doc = _scenes_doc([0.5, 0.7, 0.9, 0.9, 0.9, 0.9])
    text = limits_text(doc, "yunet-multiscale")
    assert "found 83 % of the 60 faces" in text and "75 % were found and labelled right" in text
    assert "Faces under 16 px tall" in text and "only 60 % of them (20 faces)" in text
    assert "turned heads" in text and "only 25 % of the time (4 faces)" in text and "0.50 false" in text
    assert "not measured" not in text
    assert "BlazeFace short range (webcam distance), chosen here, was not measured" in limits_text(doc, "blazeface")
    assert "YuNet multi-scale found" in text  # the detector's name as the sidebar shows it


def test_damaged_scenes_report_is_a_report_error(tmp_path, monkeypatch):
    from maskdash.evaluation import shipped

    monkeypatch.setenv("MASKDASH_REPORTS", str(tmp_path))
    assert shipped.load_scenes("robust") is None
    (tmp_path / "robust").mkdir()
    (tmp_path / "robust" / "scenes_holdout.json").write_text('{"detector": "x"}')
    with pytest.raises(shipped.ReportError, match="by_height"):
        shipped.load_scenes("robust")


def test_scenes_by_height_has_a_row_per_bin_and_class():
    from maskdash.evaluation import shipped

    doc = shipped.load_scenes("robust")
    table = shipped.scenes_by_height(doc)
    assert list(table.columns) == ["bin", "class", "n", "found", "right"]
    assert len(table) == len(doc["by_height"]) * 4
    assert table.groupby("bin", sort=False)["n"].first().sum() == doc["all"]["n"]  # "all faces" rows


# ---------------------------------------------------------------- a three-class model


def test_page_shows_a_mask_below_the_nose_and_the_compliance_view(uploads, below_nose_tflite, monkeypatch,
                                                                  media_managers):
    """With a three-class model (MASKDASH_MODEL): the table has p_incorrect, the counts a 'mask
    below nose', and the Answers choice switches table and summaries to compliant / not compliant."""
    monkeypatch.setenv("MASKDASH_MODEL", str(below_nose_tflite))
    at = _photos_page([("faces.jpg", uploads["faces.jpg"])])
    assert not at.exception, at.exception
    [table] = [d.value for d in at.dataframe]
    assert list(table.columns) == ["face", "label", "p_mask", "p_incorrect", "detector score", "box (x1, y1, x2, y2)"]
    assert sorted(table["label"]) == ["mask_incorrect", "with_mask"]
    below = table[table["label"] == "mask_incorrect"].iloc[0]
    assert below["p_incorrect"] > 1 - below["p_mask"] - below["p_incorrect"]  # the one rule
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["With mask"], metrics["Without mask"], metrics["Mask below nose"]) == ("1", "0", "1")
    assert metrics["Share masked"] == "50 %"
    assert any(m.value == "**2 face(s)**: 1 with mask, 0 without, 1 with the mask below the nose · 50 % masked"
               for m in at.markdown)
    [csv_button] = [b for b in at.get("download_button") if "faces of all photos (CSV)" in b.proto.label]
    rows = pd.read_csv(io.StringIO(downloaded(media_managers, csv_button).decode()))
    assert list(rows.columns) == SCENE_COLUMNS and rows["p_incorrect"].notna().all()
    [per_photo] = [b for b in at.get("download_button") if "row per photo (CSV)" in b.proto.label]
    photos = pd.read_csv(io.StringIO(downloaded(media_managers, per_photo).decode()))
    assert (photos.loc[0, "faces"], photos.loc[0, "with_mask"], photos.loc[0, "mask_incorrect"]) == (2, 1, 1)

    answers = at.sidebar.radio(key="photo_answers")
    assert answers.value == "three classes"  # the default
    answers.set_value("compliant / not compliant").run()
    assert not at.exception, at.exception
    [view] = [d.value for d in at.dataframe]
    assert list(view.columns) == ["face", "compliance", "p_mask", "p_incorrect", "detector score", "box (x1, y1, x2, y2)"]
    expected = {f: "compliant" if label == "with_mask" else "not compliant" for f, label in zip(table["face"], table["label"])}
    assert dict(zip(view["face"], view["compliance"])) == expected
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Compliant"], metrics["Not compliant"], metrics["Share compliant"]) == ("1", "1", "50 %")
    assert "With mask" not in metrics and "Mask below nose" not in metrics
    assert any(m.value == "**2 face(s)**: 1 compliant, 1 not compliant · 50 % compliant" for m in at.markdown)


def test_a_photo_over_the_decode_limit_says_it_was_reduced(detector, classifier):
    import io

    from PIL import Image

    from maskdash.imaging import DECODE_MAX_PIXELS

    buf = io.BytesIO()
    Image.new("RGB", (7000, 4000), (120, 130, 140)).save(buf, "JPEG", quality=50)  # 28 MP
    res = process_upload("big.jpg", buf.getvalue(), detector, classifier)
    assert isinstance(res, Results) and res.size[0] * res.size[1] <= DECODE_MAX_PIXELS
    w, h = res.size
    assert any(f"7000×4000 photo (28 megapixels) is analysed, drawn and downloaded at {w}×{h}" in n
               for n in res.notes), res.notes


def test_a_transparent_png_says_where_its_transparency_went(detector, classifier):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (64, 48), (10, 20, 30, 0)).save(buf, "PNG")
    res = process_upload("clear.png", buf.getvalue(), detector, classifier)
    assert isinstance(res, Results) and "transparent parts were put on white" in res.notes


def test_no_face_advice_names_a_real_detector_or_the_size():
    from maskdash.inference import detection
    from maskdash.inference.photos import no_face_advice

    default = detection.default_photo_detector()
    tiny = no_face_advice((8, 8), default, default, detection.LABELS)
    assert "only 8×8 px" in tiny and "Try" not in tiny
    same = no_face_advice((640, 480), default, default, detection.LABELS)
    assert "a lower detector threshold" in same and detection.LABELS[default] not in same
    other = no_face_advice((640, 480), "blazeface", default, detection.LABELS)
    assert f"the detector {detection.LABELS[default]}" in other


def test_the_photos_csv_has_a_row_per_file_with_its_counts_or_its_reason(uploads, detector, classifier):
    import io

    import pandas as pd

    from maskdash.inference.photos import photos_csv

    names = ["faces.jpg", "empty.png", "no_face.png", "truncated.jpg"]
    outcomes = [process_upload(n, uploads[n], detector, classifier) for n in names]
    table = pd.read_csv(io.BytesIO(photos_csv(outcomes)))
    assert list(table["photo"]) == names
    rows = table.set_index("photo")
    faces = outcomes[0]
    assert rows.loc["faces.jpg", "status"] == "analysed" and rows.loc["faces.jpg", "faces"] == len(faces.faces)
    assert rows.loc["faces.jpg", "with_mask"] + rows.loc["faces.jpg", "without_mask"] + \
        rows.loc["faces.jpg", "mask_incorrect"] == len(faces.faces)
    assert rows.loc["no_face.png", "faces"] == 0 and pd.isna(rows.loc["no_face.png", "share_masked"])
    for bad in ("empty.png", "truncated.jpg"):
        assert rows.loc[bad, "status"].startswith("cannot use this file: ") and pd.isna(rows.loc[bad, "faces"])
