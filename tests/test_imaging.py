"""Decoding users' files: every odd format becomes RGB uint8, every bad file a clear ImageError."""

import io

import numpy as np
import pytest
from PIL import Image

from maskdash.imaging import ImageError, crop_face, load_rgb, square_box, to_input


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_modes_become_rgb8():
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for img in (
        Image.fromarray(rgb).convert("L"),
        Image.fromarray(rgb).convert("P"),
        Image.fromarray(rgb).convert("RGBA"),
        Image.fromarray(rgb).convert("CMYK"),
        Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16)),
    ):
        buf = io.BytesIO()
        img.save(buf, format="TIFF" if img.mode == "CMYK" else "PNG")
        out = load_rgb(buf.getvalue())
        assert out.dtype == np.uint8 and out.shape == (20, 30, 3), img.mode


def test_sixteen_bit_keeps_contrast():
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    out = load_rgb(_png(Image.fromarray(ramp)))
    assert out.min() < 5 and out.max() > 250


def test_a_float_tiff_keeps_its_contrast():
    """A 32-bit float image holds 0–1 (scientific and HDR tools write them): not divided by 255 into black."""
    ramp = np.linspace(0.0, 1.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    ramp[0, 0] = np.nan  # a hole in the data is black, not an error
    buf = io.BytesIO()
    Image.fromarray(ramp, mode="F").save(buf, format="TIFF")
    out = load_rgb(buf.getvalue())
    assert out.dtype == np.uint8 and out[1:].min() < 5 and out.max() > 250


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert (load_rgb(_png(img)) == 255).all()


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert load_rgb(buf.getvalue()).shape == (40, 20, 3)


def test_animated_gives_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = load_rgb(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ""),
    ],
)
def test_bad_bytes(payload, words):
    with pytest.raises(ImageError) as exc:
        load_rgb(payload)
    assert words in str(exc.value)


def test_truncated_jpeg(tmp_path):
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        load_rgb(path)


def test_pixel_bomb_refused_before_decoding():
    # a 20000×20000 1-bit PNG compresses to a few kB but would be 1.2 GB as RGB
    bomb = _png(Image.new("1", (20000, 20000)), optimize=True)
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="too large"):
        load_rgb(bomb)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        load_rgb(tmp_path / "nope.jpg")


def test_square_crop_clamped_and_sized():
    frame = np.zeros((100, 200, 3), np.uint8)
    x1, y1, x2, y2 = square_box((180, 10, 199, 40), 200, 100, margin=0.2)
    assert 0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 100
    assert crop_face(frame, (180, 10, 199, 40)).shape == (224, 224, 3)
    assert to_input(np.zeros((50, 70, 3), np.uint8)).shape == (224, 224, 3)


def _jpeg_claiming(width: int, height: int) -> bytes:
    """An 8×8 JPEG whose frame header (SOF0) claims width×height: a few hundred bytes."""
    import struct

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 90, 60)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def test_header_lie_is_decoded_at_reduced_size():
    from maskdash.imaging import DECODE_MAX_PIXELS

    data = _jpeg_claiming(9000, 9000)
    assert len(data) < 1000
    try:
        rgb = load_rgb(data)
    except ImageError as exc:  # refusing it is as good, as long as it is not decoded in full
        assert "corrupt" in str(exc) or "truncated" in str(exc)
    else:
        assert rgb.shape[0] * rgb.shape[1] <= DECODE_MAX_PIXELS


def test_small_upload_cannot_allocate_much(tmp_path):
    """A < 1 kB JPEG claiming 81 MP must not make the process allocate ~250 MB (peak RSS, own process)."""
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "lie.jpg"
    path.write_bytes(_jpeg_claiming(9000, 9000))
    code = (
        "import resource, sys\n"
        "from maskdash.imaging import load_rgb, ImageError\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    load_rgb(sys.argv[1])\nexcept ImageError:\n    pass\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) < 150, f"decoding grew the process by {out.stdout.strip()} MB"


def test_png_bomb_refused_with_reason():
    buf = io.BytesIO()
    Image.new("1", (12000, 8000)).save(buf, "PNG")  # 96 MP in a few kB
    with pytest.raises(ImageError, match="decompression bomb"):
        load_rgb(buf.getvalue())


def test_a_100_mp_photo_is_accepted_not_called_a_bomb():
    """Pillow warns from 89.5 MP; a real 100 MP sensor's JPEG must still be usable (reduced)."""
    from maskdash.imaging import DECODE_MAX_PIXELS

    buf = io.BytesIO()
    Image.new("RGB", (11500, 8700), (90, 120, 150)).save(buf, "JPEG", quality=50)  # 100 MP
    rgb = load_rgb(buf.getvalue())
    assert rgb.shape[0] * rgb.shape[1] <= DECODE_MAX_PIXELS
    assert abs(rgb.shape[1] / rgb.shape[0] - 11500 / 8700) < 0.01
