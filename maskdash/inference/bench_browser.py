"""`python -m maskdash bench live --browser`: camera-to-screen latency and delivered frames/s of the
Live page, measured in a real headless Chromium, alone and with busy loops competing for the CPU.

The fake camera plays real Face Mask 12K Test faces carrying a frame counter
(`maskdash.inference.latency`); a probe in the page reads the counter in each annotated frame
shown and in the camera's current frame. The app runs as a `streamlit run` subprocess, as a user
would run it; each condition starts a fresh server. Needs Debian's Chromium and Python Playwright
(test dependencies): `browser_missing()` says why not."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from maskdash import settings
from maskdash.data.datasets import CLEAR_FACES
from maskdash.inference.browser import (ROOT, StreamlitServer, chromium_pages, cpu_load, open_live, press,
                                        server_rss_mb, wait_for_frames, webrtc_page_frame)
from maskdash.inference.latency import (KEEP_PEERS_JS, PROBE_JS, TAKE_JS, WEBRTC_STATS_JS, counter_video,
                                        latency_stats, stream_rates)
from maskdash.labels import WITH_MASK, WITHOUT_MASK

if TYPE_CHECKING:  # numpy is imported where frames are made, not when the bench module loads
    import numpy as np

CAMERA_FPS = 30  # Chromium's fake camera plays an MJPEG file at 30 frames/s
SECONDS_EACH = 3  # each face stays this long, so identity changes happen during a run
WARM_UP_S = 5.0  # after the first frames: the stream's start (codec, tracks) is not counted


def face_frame(image: Path, face_px: int = 240) -> "np.ndarray":
    """One BGR 640×480 frame: the face crop scaled to `face_px` on a grey background, centred
    (the distance of a person in front of a webcam)."""
    import cv2
    import numpy as np

    from maskdash.imaging import load_rgb

    rgb = load_rgb(image)
    scale = face_px / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                     interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 128, np.uint8)
    y0, x0 = (480 - rgb.shape[0]) // 2, (640 - rgb.shape[1]) // 2
    frame[y0:y0 + rgb.shape[0], x0:x0 + rgb.shape[1]] = rgb[:, :, ::-1]
    return frame


def face_frames(data: Path | str | None = None) -> list:
    """Four real Test faces (two unmasked, two masked), each held SECONDS_EACH at the camera's rate."""
    root = Path(data) if data else settings.facemask12k_dir()
    folders = {WITH_MASK: "WithMask", WITHOUT_MASK: "WithoutMask"}
    frames = []
    for label in (WITHOUT_MASK, WITH_MASK):
        for name in CLEAR_FACES[label][:2]:
            frames += [face_frame(root / "Test" / folders[label] / name)] * (SECONDS_EACH * CAMERA_FPS)
    return frames


def make_video(folder: Path, data: Path | str | None = None) -> tuple[Path, int]:
    """The counter video in `folder` and its length in frames (the counter's wrap)."""
    frames = face_frames(data)
    repeat = 3
    return counter_video(frames, folder / "counter.mjpeg", repeat=repeat), len(frames) * repeat


def measure(video: Path, length: int, seconds: float = 20.0, busy: int = 0, viewers: int = 1,
            log_path: Path | None = None, windows: int = 3) -> dict:
    """One fresh server and `viewers` browsers, `busy` busy loops competing: per viewer the
    latency figures over `seconds` after a warm-up (also for each of `windows` equal parts of
    it: a queue shows as latency growing from one to the next, a dropped stream as a part with
    no frames), and the server's memory at the end of the warm-up and after each part (a leak
    grows part after part; the allocator settling grows once and stops)."""
    env = {"MASKDASH_MODEL": ""}  # the shipped model, whatever the caller's environment says
    with cpu_load(busy), StreamlitServer(ROOT / "app.py", env=env, log_path=log_path) as srv, \
            chromium_pages(viewers, video) as pages:
        started, restarts = [], [0] * len(pages)
        for page in pages:  # viewers join one after another, as people do
            page.context.add_init_script(KEEP_PEERS_JS)
            open_live(page, srv.url)
            press(page, "Start")
            started.append(wait_for_frames(page, at_least=3, timeout_s=180) >= 3)
        probes = [webrtc_page_frame(page) for page in pages]
        for i, (page, frame) in enumerate(zip(pages, probes)):
            # A session that stopped while the next viewer joined (streamlit-webrtc drops a
            # session now and then under load; browser-testing.md) is started once more, as its
            # viewer would press START again; the restart is counted and reported.
            if not frame.evaluate(PROBE_JS):
                restarts[i] += 1
                press(page, "Start")
                started[i] = wait_for_frames(page, at_least=3, timeout_s=180) >= 3
                probes[i] = frame = webrtc_page_frame(page)
                started[i] = bool(frame.evaluate(PROBE_JS)) and started[i]
        time.sleep(WARM_UP_S)
        for frame in probes:
            frame.evaluate(TAKE_JS)  # drop the warm-up
        rss = [server_rss_mb(srv.proc.pid)]
        stats_start = [frame.evaluate(WEBRTC_STATS_JS) for frame in probes]
        samples: list[list] = [[] for _ in pages]
        unreadable = [0] * len(pages)
        for _ in range(windows):
            time.sleep(seconds / windows)
            for i, frame in enumerate(probes):
                got, bad = frame.evaluate(TAKE_JS)
                samples[i].append([tuple(s) for s in got])
                unreadable[i] += bad
            rss.append(server_rss_mb(srv.proc.pid))
        rates = [stream_rates(a, frame.evaluate(WEBRTC_STATS_JS)) for a, frame in zip(stats_start, probes)]
        page_text = [page.inner_text("body") for page in pages]
    results = []
    for i in range(len(pages)):
        whole = [s for part in samples[i] for s in part]
        results.append({
            "started": started[i], "restarts": restarts[i], "unreadable_frames": unreadable[i],
            **latency_stats(whole, CAMERA_FPS, modulo=length), **rates[i],
            "windows": [latency_stats(part, CAMERA_FPS, modulo=length) for part in samples[i]],
            "traceback_shown": "Traceback" in page_text[i],
        })
    doc = {"viewers": viewers, "busy_loops": busy, "seconds": seconds, "per_viewer": results}
    if None not in rss:
        doc["server_rss_mb"] = {"start": round(rss[0]), "end": round(rss[-1]), "parts": [round(r) for r in rss]}
    return doc


def bench_browser(seconds: float = 20.0, data: str | None = None, conditions=((1, 0), (1, 2), (3, 0))) -> dict:
    """Latency for each (viewers, busy loops) condition; a dict keyed like '1 viewer, 2 busy'."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="maskdash-bench-") as tmp:
        video, length = make_video(Path(tmp), data)
        for viewers, busy in conditions:
            key = f"{viewers} viewer{'s' if viewers != 1 else ''}, {busy} busy loop{'s' if busy != 1 else ''}"
            out[key] = measure(video, length, seconds, busy, viewers, log_path=Path(tmp) / "streamlit.log")
    return out


def format_browser(doc: dict) -> str:
    lines = ["camera-to-screen, in headless Chromium (latency p50 / p95 / max; new frames shown a second;",
             "  in brackets the browser's WebRTC counts: frames the camera sent, frames decoded from the server):"]
    for key, run in doc.items():
        for i, v in enumerate(run["per_viewer"]):
            who = f"{key}" + (f", viewer {i + 1}" if run["viewers"] > 1 else "")
            if "latency_ms_p50" not in v:
                lines.append(f"  {who}: no frames measured ({v})")
                continue
            lines.append(f"  {who}: {v['latency_ms_p50']:.0f} / {v['latency_ms_p95']:.0f} / {v['latency_ms_max']:.0f} ms, "
                         f"{v['delivered_fps']:.1f} frames/s"
                         + (f" (sent {v['camera_sent_fps']:.1f}, decoded {v['decoded_fps']:.1f})" if "decoded_fps" in v else ""))
    return "\n".join(lines)

