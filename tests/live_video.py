"""Fake-camera videos for the browser tests: real Face Mask 12K faces on a grey 640×480 frame,
written as a raw Y4M file that Chromium plays with `--use-file-for-fake-video-capture`.

Written directly (a Y4M file is a header plus raw I420 frames), so no ffmpeg is needed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from maskdash.inference.bench_browser import face_frame  # noqa: F401  the one webcam-like frame maker

WIDTH, HEIGHT = 640, 480


def write_y4m(frames_bgr: list[np.ndarray], out: Path, fps: int) -> Path:
    """Frames (all WIDTH×HEIGHT BGR) → a 4:2:0 Y4M file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames_bgr:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return out


def face_video(images: list[Path], out: Path, seconds_each: float = 3.0, fps: int = 10, face_px: int = 240) -> Path:
    """A video showing each image for `seconds_each` in turn (Chromium loops it)."""
    frames: list[np.ndarray] = []
    for image in images:
        frame = face_frame(image, face_px)
        frames.extend([frame] * max(1, round(seconds_each * fps)))
    return write_y4m(frames, out, fps)


def blank_video(out: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    """A grey frame and nothing else (no face in view)."""
    return write_y4m([np.full((HEIGHT, WIDTH, 3), 128, np.uint8)] * max(1, round(seconds * fps)), out, fps)


def mp4_video(images: list[Path], out: Path, seconds_each: float = 3.0, fps: int = 15, face_px: int = 240) -> Path:
    """The same faces as `face_video`, as an H.264 MP4 (what a user uploads), written with PyAV."""
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for image in images:
            frame = face_frame(image, face_px)
            for _ in range(max(1, round(seconds_each * fps))):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode(None))
    return out
