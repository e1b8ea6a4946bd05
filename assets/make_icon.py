"""Draws assets/icon.png, the browser-tab icon (the project's own drawing, shipped so the tab
needs nothing from the internet): `python assets/make_icon.py`."""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE, SCALE = 64, 4  # drawn at 4× and shrunk, for smooth edges


def draw() -> Image.Image:
    s = SIZE * SCALE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, s - 1, s - 1), radius=s // 6, fill=(31, 119, 180, 255))  # the app's blue
    d.ellipse((s * 0.22, s * 0.14, s * 0.78, s * 0.86), fill=(241, 200, 160, 255))  # a head
    for x in (0.38, 0.62):  # eyes
        d.ellipse((s * (x - 0.035), s * 0.38, s * (x + 0.035), s * 0.45), fill=(60, 45, 40, 255))
    d.line((s * 0.22, s * 0.55, s * 0.12, s * 0.48), fill=(235, 235, 235, 255), width=s // 40)  # ear loops
    d.line((s * 0.78, s * 0.55, s * 0.88, s * 0.48), fill=(235, 235, 235, 255), width=s // 40)
    d.rounded_rectangle((s * 0.24, s * 0.52, s * 0.76, s * 0.78), radius=s // 14, fill=(250, 250, 250, 255))
    for y in (0.59, 0.65, 0.71):  # the mask's pleats
        d.line((s * 0.30, s * y, s * 0.70, s * y), fill=(190, 200, 210, 255), width=s // 80)
    return img.resize((SIZE, SIZE), Image.LANCZOS)


if __name__ == "__main__":
    draw().save(Path(__file__).with_name("icon.png"), optimize=True)
