"""Camera-to-screen latency, measured by the frames themselves.

A test camera video carries a machine-readable frame counter: a strip along the bottom of each
frame, BITS cells wide, each cell white for a 1 bit and black for a 0, with the inverted bits
below them. The inverted row lets a reader reject a cell blurred by compression or a frame
caught between two (every cell's upper and lower halves must disagree). The strip is read twice
in the browser: on the annotated frame the page shows, and on the camera's own current frame;
the difference, in frames of the camera's rate, is the latency of everything between them
(upload, decoding, the pipeline, encoding, download, display).

The strip sits at the bottom, where the pipeline draws nothing (its read-out is at the top, and
face boxes stay around faces in the middle of the frame). The same reader exists in JavaScript
(`READ_JS`) for the browser, so both sides decode with one layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

BITS = 12  # a 4096-frame counter: > 2 minutes at 30 frames/s before it wraps
STRIP_H = 32  # pixels: two rows of cells, bits above, inverted bits below
MARGIN = 8  # pixels left and right of the strip


def _cells(width: int) -> list[tuple[int, int]]:
    step = (width - 2 * MARGIN) / BITS
    return [(round(MARGIN + i * step), round(MARGIN + (i + 1) * step)) for i in range(BITS)]


def draw_counter(frame: np.ndarray, value: int) -> np.ndarray:
    """`frame` (H×W×3, any channel order) with `value` (mod 2**BITS) drawn into its bottom strip."""
    out = frame.copy()
    h, w = out.shape[:2]
    top, mid = h - STRIP_H, h - STRIP_H // 2
    out[top:] = 128
    for i, (x0, x1) in enumerate(_cells(w)):
        bit = (value >> (BITS - 1 - i)) & 1
        pad = max(1, (x1 - x0) // 8)  # a gap between cells keeps compression from smearing them together
        out[top + 2:mid, x0 + pad:x1 - pad] = 255 if bit else 0
        out[mid:h - 2, x0 + pad:x1 - pad] = 0 if bit else 255
    return out


def read_counter(frame: np.ndarray) -> int | None:
    """The counter in `frame`'s bottom strip, or None where any cell is unreadable."""
    h, w = frame.shape[:2]
    grey = frame.mean(axis=2) if frame.ndim == 3 else frame.astype(float)
    top, mid = h - STRIP_H, h - STRIP_H // 2
    value = 0
    for x0, x1 in _cells(w):
        cx, qx = (x0 + x1) // 2, max(1, (x1 - x0) // 4)
        upper = grey[top + 5:mid - 3, cx - qx:cx + qx].mean()
        lower = grey[mid + 3:h - 5, cx - qx:cx + qx].mean()
        if abs(upper - lower) < 80:  # both halves alike: not a clean cell
            return None
        value = (value << 1) | int(upper > lower)
    return value


# The same reader for the browser: `readCounter(ctx, width, height)` on a 2D canvas context
# holding the frame; null where a cell is unreadable.
READ_JS = f"""
function readCounter(ctx, w, h) {{
  const BITS = {BITS}, STRIP = {STRIP_H}, MARGIN = {MARGIN};
  const top = h - STRIP, mid = h - STRIP / 2;
  const d = ctx.getImageData(0, top, w, STRIP).data;
  const grey = (x, y) => {{ const i = 4 * ((y - top) * w + x); return (d[i] + d[i + 1] + d[i + 2]) / 3; }};
  const step = (w - 2 * MARGIN) / BITS;
  let value = 0;
  for (let b = 0; b < BITS; b++) {{
    const x0 = Math.round(MARGIN + b * step), x1 = Math.round(MARGIN + (b + 1) * step);
    const cx = Math.floor((x0 + x1) / 2), qx = Math.max(1, Math.floor((x1 - x0) / 4));
    let up = 0, lo = 0, n = 0;
    for (let x = cx - qx; x < cx + qx; x += 2) {{
      for (let y = top + 5; y < mid - 3; y += 2) {{ up += grey(x, y); n++; }}
      for (let y = mid + 3; y < h - 5; y += 2) {{ lo += grey(x, y); }}
    }}
    up /= n; lo /= n;
    if (Math.abs(up - lo) < 80) return null;
    value = value * 2 + (up > lo ? 1 : 0);
  }}
  return value;
}}
"""


def counter_video(frames_bgr: list[np.ndarray], out: Path, repeat: int = 1, quality: int = 90) -> Path:
    """An MJPEG file (Chromium's fake camera plays .mjpeg as well as .y4m, at a fraction of the
    size) showing `frames_bgr` in turn, `repeat` times over, each frame carrying its index."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "wb") as f:
        for _ in range(repeat):
            for frame in frames_bgr:
                ok, buf = cv2.imencode(".jpg", draw_counter(frame, n), [cv2.IMWRITE_JPEG_QUALITY, quality])
                if not ok:
                    raise ValueError("JPEG encoding failed")
                f.write(buf.tobytes())
                n += 1
    return out


def latency_stats(samples: list[tuple[float, int, int]], fps: float, modulo: int = 1 << BITS) -> dict:
    """(browser time ms, counter shown, camera counter at that moment) per shown frame → latency
    p50/p95/max in ms (a frame of the camera is 1000/fps ms) and frames/s delivered to the screen
    (distinct frames shown per second). Counters wrap at `modulo` (the video's length)."""
    if len(samples) < 2:
        return {"frames": len(samples)}
    times = np.array([s[0] for s in samples], float)
    lag_frames = np.array([(cam - shown) % modulo for _, shown, cam in samples], float)
    lag_ms = lag_frames * 1000.0 / fps
    # A new frame is one whose counter differs from the frame before (a set would undercount
    # once the counter wraps); a repeat is the server re-sending its last annotated frame.
    distinct = 1 + sum(a[1] != b[1] for a, b in zip(samples, samples[1:]))
    span_s = max((times[-1] - times[0]) / 1000.0, 1e-9)
    return {
        "frames": len(samples),
        "seconds": round(span_s, 1),
        "delivered_fps": round((distinct - 1) / span_s, 1),
        "latency_ms_p50": round(float(np.percentile(lag_ms, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lag_ms, 95)), 1),
        "latency_ms_max": round(float(lag_ms.max()), 1),
    }


# Installed in the streamlit-webrtc iframe: opens the (fake) camera a second time — Chromium
# shares one capture device between its consumers, so this copy shows the camera's current frame
# — and, for every frame the page's annotated <video> presents, records (time ms, counter shown,
# camera counter) in window.__latency (unreadable frames are counted in window.__unreadable).
PROBE_JS = "async () => {" + READ_JS + """
  const shownVideo = document.querySelector('video');
  const cam = document.createElement('video');
  cam.muted = true;
  cam.srcObject = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}});
  await cam.play();
  const canvas = new OffscreenCanvas(640, 480);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const read = v => {
    if (!v.videoWidth) return null;
    ctx.drawImage(v, 0, 0, 640, 480);  // at the camera's size, whatever size the server sends
    return readCounter(ctx, 640, 480);
  };
  window.__latency = []; window.__unreadable = 0;
  const onFrame = (now) => {
    const shown = read(shownVideo), camNow = read(cam);
    if (shown === null || camNow === null) window.__unreadable++;
    else window.__latency.push([now, shown, camNow]);
    shownVideo.requestVideoFrameCallback(onFrame);
  };
  shownVideo.requestVideoFrameCallback(onFrame);
  return true;
}"""
TAKE_JS = "() => [window.__latency ? window.__latency.splice(0) : [], window.__unreadable || 0]"
