"""Every page rendered once in a real headless Chromium against `streamlit run app.py`, with a
screenshot of each in $MASKDASH_SCREENSHOTS (default: a fresh pytest temporary folder) for a person to look at; and
Photos driven for real: files dropped on the uploader, per-file errors, the good photo's table.

Rendering is checked the way a user would see a failure: no exception box, no "Error" alert the
page did not mean to show, the page's own title on screen, its charts drawn."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import need
from maskdash.evaluation import shipped
from maskdash.imaging import load_rgb, resize
from maskdash.inference.browser import StreamlitServer, browser_missing, chromium

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("MASKDASH_SCREENSHOTS", ""))  # set per run by _screenshots_dir

# url path → (title on the page, CSS selectors that must be on it)
PAGES = {
    "": ("MaskDash", ['[data-testid="stDataFrame"]']),
    "live": (None, []),
    "photos": ("Photos", ['[data-testid="stFileUploaderDropzoneInput"]']),
    "training": ("Training", ['[data-testid="stPlotlyChart"]']),
    "evaluation": ("Evaluation", ['[data-testid="stPlotlyChart"]']),
    "failure_analysis": (None, []),
    "how_it_works": ("How it works", ['[data-testid="stGraphVizChart"]', '[data-testid="stPlotlyChart"]']),
}


def _exists(url_path: str) -> bool:
    return (ROOT / "views" / f"{url_path or 'home'}.py").is_file()


@pytest.fixture(scope="module", autouse=True)
def _screenshots_dir(tmp_path_factory):
    """Two runs on one machine must not write the same files: a fresh folder unless one is asked for."""
    global SHOTS
    if not os.environ.get("MASKDASH_SCREENSHOTS"):
        SHOTS = tmp_path_factory.mktemp("pages")
    print(f"screenshots: {SHOTS}")


@pytest.fixture(scope="module")
def server():
    need(browser_missing() is None, browser_missing() or "")
    with StreamlitServer(ROOT / "app.py") as s:
        yield s


@pytest.fixture(scope="module")
def page(server):
    with chromium() as p:
        yield p


def settle(page, timeout_ms: int = 240_000) -> None:
    """Wait until the script run has finished and the page is drawn."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => { const a = document.querySelector('[data-testid="stApp"]');
                   return a && a.getAttribute('data-test-script-state') === 'notRunning'; }""",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(1500)  # charts draw after the run ends


def shoot(page, name: str) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its own container, so the
    viewport is stretched to the content's height first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        """() => Math.max(...['stMain', 'stAppViewContainer', 'stSidebar'].map(id => {
                 const e = document.querySelector(`[data-testid="${id}"]`);
                 return e ? e.scrollHeight : 0; }))"""
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 12000))})
    page.wait_for_timeout(1500)  # charts re-lay-out to the new size
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def no_errors(page, server) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text() + "\n" + server.log()[-3000:]
    assert "Traceback" not in page.locator('[data-testid="stMain"]').inner_text()


@pytest.mark.parametrize("url_path", list(PAGES))
def test_page_renders(server, page, url_path):
    need(_exists(url_path), f"views/{url_path}.py not delivered yet")
    title, selectors = PAGES[url_path]
    if url_path in ("training", "evaluation"):  # their charts come from the committed reports
        assert (shipped.recipe_dir("robust") / "history.csv").is_file(), "models/robust/ reports not committed"
    page.goto(f"{server.url}/{url_path}")
    settle(page)
    no_errors(page, server)
    if title:
        page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=30_000)
    for sel in selectors:  # charts load their code lazily: wait, do not just count
        page.locator(sel).first.wait_for(state="attached", timeout=60_000)
    shoot(page, url_path or "home")


def test_the_tab_icon_comes_from_the_app(server, page):
    """No request leaves for Google's font servers to draw the browser tab's icon."""
    page.goto(server.url)
    settle(page)
    icons = page.evaluate("() => [...document.querySelectorAll('link[rel*=icon]')].map(l => l.href)")
    assert icons and all(href.startswith(server.url + "/") for href in icons), icons
    served = page.request.get(icons[0])
    assert served.ok and served.body()[:8] == b"\x89PNG\r\n\x1a\n"


def _photo(fm12k: Path) -> bytes:
    canvas = np.full((480, 680, 3), 128, np.uint8)
    for rel, x in (("Test/WithMask/1174.jpg", 40), ("Test/WithoutMask/1015.jpg", 440)):
        canvas[140:340, x : x + 200] = resize(load_rgb(fm12k / rel), 200, 200)
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def test_photos_upload_in_the_browser(server, page, fm12k, shipped_model):
    page.goto(f"{server.url}/photos")
    settle(page)
    files = [
        {"name": "two_faces.jpg", "mimeType": "image/jpeg", "buffer": _photo(fm12k)},
        {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xe0 not really a jpeg"},
        {"name": "empty.png", "mimeType": "image/png", "buffer": b""},
    ]
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(files)
    page.get_by_role("heading", name="two_faces.jpg").first.wait_for(timeout=240_000)
    settle(page)
    no_errors(page, server)
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "broken.jpg" in main and "cannot use this file" in main
    assert "empty.png" in main
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert page.locator('[data-testid="stImage"]').count() >= 1
    assert page.get_by_text("Download the faces of all photos (CSV)").count() == 1
    shoot(page, "photos_results")


def test_a_deep_link_on_a_fresh_server_gets_the_app_frame(page):
    """The first visitor after a restart may open /training directly (a bookmark). The page must
    come inside app.py's frame — its navigation and sidebar note — not as a bare script."""
    with StreamlitServer(ROOT / "app.py") as server:  # the browser is shared: one Playwright per thread
        page.goto(f"{server.url}/training")
        settle(page)
        no_errors(page, server)
        # a link's text is its icon's ligature name, then its label
        nav = [t.strip().split("\n")[-1] for t in page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]
        assert "Training" in nav and "Home" in nav, nav
        assert not any(t.lower() in ("common", "app") for t in nav), nav
        # the frame's sidebar note on the data folder, whether the data is there or not
        assert "data folder" in page.locator('[data-testid="stSidebar"]').inner_text().lower()
