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


def latency_stats(samples: list[tuple], fps: float, modulo: int = 1 << BITS) -> dict:
    """(browser time ms, counter shown, camera counter at that moment[, frames presented so far])
    per sampled frame → latency p50/p95/max in ms (a frame of the camera is 1000/fps ms) and the
    frames/s delivered to the screen. Counters wrap at `modulo` (the video's length).

    Delivered frames/s: where samples carry the browser's own count of presented frames
    (`requestVideoFrameCallback`'s presentedFrames), the presented frames a second less the share
    of repeats (a sample right after the one before that shows the same counter: the server re-sent
    a frame). The probe itself cannot read every frame — a busy page thread skips callbacks — so
    counting distinct counters read undercounts; that count is reported as `read_fps`."""
    if len(samples) < 2:
        return {"frames": len(samples)}
    times = np.array([s[0] for s in samples], float)
    lag_frames = np.array([(s[2] - s[1]) % modulo for s in samples], float)
    lag_ms = lag_frames * 1000.0 / fps
    # A new frame is one whose counter differs from the frame before (a set would undercount
    # once the counter wraps).
    distinct = 1 + sum(a[1] != b[1] for a, b in zip(samples, samples[1:]))
    span_s = max((times[-1] - times[0]) / 1000.0, 1e-9)
    out = {
        "frames": len(samples),
        "seconds": round(span_s, 1),
        "delivered_fps": round((distinct - 1) / span_s, 1),
        "latency_ms_p50": round(float(np.percentile(lag_ms, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lag_ms, 95)), 1),
        "latency_ms_max": round(float(lag_ms.max()), 1),
    }
    if all(len(s) > 3 for s in samples):
        presented = samples[-1][3] - samples[0][3]
        pairs = [(a[1], b[1]) for a, b in zip(samples, samples[1:]) if b[3] - a[3] == 1]
        repeats = sum(x == y for x, y in pairs) / len(pairs) if pairs else 0.0
        out.update({
            "read_fps": out["delivered_fps"],
            "presented_fps": round(presented / span_s, 1),
            "repeat_share": round(repeats, 3),
            "probe_read_share": round((len(samples) - 1) / max(presented, 1), 3),
            "delivered_fps": round(presented * (1 - repeats) / span_s, 1),
        })
    return out


# Installed in the streamlit-webrtc iframe: opens the (fake) camera a second time — Chromium
# shares one capture device between its consumers, so this copy shows the camera's current frame
# — and, for every frame the page's annotated <video> presents, records (time ms, counter shown,
# camera counter, frames presented so far) in window.__latency (unreadable frames are counted in
# window.__unreadable). Only the counter strip is copied out of each video (a full 640×480 copy of
# two videos a frame made the probe skip one callback in six on this machine, and cost the page).
PROBE_JS = "async () => {" + READ_JS + """
  const shownVideo = document.querySelector('video');
  if (!shownVideo) return false;  // the stream stopped (the component shows START again)
  const cam = document.createElement('video');
  cam.muted = true;
  cam.srcObject = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}});
  await cam.play();
  const STRIP = """ + str(STRIP_H) + """;
  const canvas = new OffscreenCanvas(640, STRIP);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const read = v => {
    if (!v.videoWidth) return null;
    // the bottom strip at the camera's 640×480 scale, whatever size the server sends
    const h = v.videoHeight * STRIP / 480;
    ctx.drawImage(v, 0, v.videoHeight - h, v.videoWidth, h, 0, 0, 640, STRIP);
    return readCounter(ctx, 640, STRIP);
  };
  window.__latency = []; window.__unreadable = 0;
  const onFrame = (now, meta) => {
    const shown = read(shownVideo), camNow = read(cam);
    if (shown === null || camNow === null) window.__unreadable++;
    else window.__latency.push([now, shown, camNow, meta.presentedFrames]);
    shownVideo.requestVideoFrameCallback(onFrame);
  };
  shownVideo.requestVideoFrameCallback(onFrame);
  return true;
}"""
TAKE_JS = "() => [window.__latency ? window.__latency.splice(0) : [], window.__unreadable || 0]"

# Installed in every page before it loads (Playwright's add_init_script): keeps each
# RTCPeerConnection the page makes, so that WEBRTC_STATS_JS can read the browser's own counts.
KEEP_PEERS_JS = """(() => {
  const Original = window.RTCPeerConnection;
  if (!Original || Original.__kept) return;
  window.__peers = [];
  const Kept = function (...args) { const pc = new Original(...args); window.__peers.push(pc); return pc; };
  Kept.prototype = Original.prototype;
  Kept.__kept = true;
  window.RTCPeerConnection = Kept;
})();"""
# Frames the camera's stream sent (outbound) and frames decoded from the server's stream (inbound)
# so far, with the browser's clock: two readings give the rates on each side of the server.
WEBRTC_STATS_JS = """async () => {
  const out = {t: performance.now(), sent: 0, decoded: 0};
  for (const pc of (window.__peers || [])) {
    (await pc.getStats()).forEach(s => {
      if (s.kind !== 'video') return;
      if (s.type === 'outbound-rtp') out.sent += s.framesSent || 0;
      if (s.type === 'inbound-rtp') out.decoded += s.framesDecoded || 0;
    });
  }
  return out;
}"""


def stream_rates(first: dict, last: dict) -> dict:
    """Two WEBRTC_STATS_JS readings → frames/s the camera sent and the browser decoded back."""
    span_s = max((last["t"] - first["t"]) / 1000.0, 1e-9)
    return {"camera_sent_fps": round((last["sent"] - first["sent"]) / span_s, 1),
            "decoded_fps": round((last["decoded"] - first["decoded"]) / span_s, 1)}

