"""Running the app for real in a browser (the browser tests and `bench live --browser`): `streamlit
run` on a free port as a subprocess, Debian's Chromium driven by Python Playwright with a fake
camera, and the streamlit-webrtc component's controls inside its iframe. Playwright is imported
only when a browser is started (it is a test dependency, not the app's)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py
CHROMIUM = "/usr/bin/chromium"
WEBRTC_IFRAME = "iframe[title*='streamlit_webrtc']"

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run script` on a free port; the log goes to `log_path`."""

    def __init__(self, script: Path, env: dict[str, str] | None = None, log_path: Path | None = None):
        self.script = Path(script)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="streamlit-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "StreamlitServer":
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(self.script),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.address", "127.0.0.1", "--server.port", str(self.port),
            "--server.fileWatcherType", "none",
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180  # a cold start under load (TensorFlow import) is slow
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            time.sleep(0.5)
        raise RuntimeError(f"streamlit did not come up:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def chromium(fake_video: Path | None = None, deny_camera: bool = False):
    """A headless Debian Chromium with a fake camera playing `fake_video` (a .y4m or .mjpeg), or
    with camera access refused (`deny_camera`). Yields a Playwright page."""
    with chromium_pages(1, fake_video, deny_camera) as pages:
        yield pages[0]


@contextlib.contextmanager
def chromium_pages(n: int, fake_video: Path | None = None, deny_camera: bool = False):
    """`n` separate headless Chromium browsers (own profiles, own processes: n viewers), each with
    the fake camera; yields their pages. One Playwright drives them all (its sync API allows only
    one instance per thread)."""
    from playwright.sync_api import sync_playwright

    flags = list(CHROMIUM_FLAGS)
    if deny_camera:
        flags.remove("--use-fake-ui-for-media-stream")  # Playwright then denies the permission prompt
    if fake_video is not None:
        flags.append(f"--use-file-for-fake-video-capture={fake_video}")
    profiles = [tempfile.mkdtemp(prefix="chromium-profile-") for _ in range(n)]
    try:
        with sync_playwright() as pw, contextlib.ExitStack() as stack:
            pages = []
            for profile in profiles:
                context = pw.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, headless=True, args=flags,
                    viewport={"width": 1400, "height": 1000},
                )
                stack.callback(context.close)
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60_000)
                pages.append(page)
            yield pages
    finally:
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


def open_live(page, url: str) -> None:
    """Open the app as a user does (home page first) and go to Live through the navigation."""
    page.goto(url)
    page.get_by_role("link", name="Live").first.click(timeout=240_000)
    page.wait_for_selector(WEBRTC_IFRAME, timeout=240_000)
    webrtc_frame(page).get_by_role("button", name="Start").wait_for(timeout=120_000)


def webrtc_page_frame(page):
    """The component's iframe as a Playwright Frame (for evaluating scripts inside it)."""
    for frame in page.frames:
        if "streamlit_webrtc" in (frame.url or ""):
            return frame
    raise RuntimeError("the streamlit-webrtc component is not on this page")


def server_rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), MB; None where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def webrtc_frame(page):
    return page.frame_locator(WEBRTC_IFRAME).first


def press(page, name: str) -> None:
    """Press the component's Start/Stop button (its label is styled upper-case)."""
    webrtc_frame(page).get_by_role("button", name=name, exact=False).first.click()


def frames_shown(page) -> int:
    """Frames the browser has decoded from the server's (annotated) stream so far."""
    video = webrtc_frame(page).locator("video").first
    try:
        return int(video.evaluate(
            "v => v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0",
            timeout=5_000,
        ))
    except Exception:  # no video element (stopped) or a transient iframe reload
        return 0


def watch_stream(page, seconds: float, step: float = 1.0) -> list[tuple[float, int]]:
    """(elapsed s, decoded frames) samples while the stream plays."""
    t0 = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - t0) < seconds:
        samples.append((round(elapsed, 1), frames_shown(page)))
        page.wait_for_timeout(int(step * 1000))
    samples.append((round(time.monotonic() - t0, 1), frames_shown(page)))
    return samples


def wait_for_frames(page, at_least: int = 5, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    n = 0
    while time.monotonic() < deadline:
        n = frames_shown(page)
        if n >= at_least:
            return n
        page.wait_for_timeout(500)
    return n


@contextlib.contextmanager
def cpu_load(processes: int = 2):
    """Busy-loop processes that compete with the server for the CPU (the condition under which
    streamlit-webrtc 0.72.1–0.79 drops first sessions)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
