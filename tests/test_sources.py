"""Video sources besides the webcam: a real video file of Face Mask 12K faces and a stream URL
served over HTTP are opened and described; broken files and bad addresses get a message naming
them. (The Live page playing a file in a real browser: test_live_browser.py.)"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from live_video import mp4_video
from maskdash.inference.bench import CLEAR_FACES
from maskdash.inference.sources import VideoSourceError, check_bytes, check_file, check_url, player


@pytest.fixture(scope="module")
def faces_mp4(fm12k, tmp_path_factory):
    out = tmp_path_factory.mktemp("video") / "faces.mp4"
    images = [fm12k / "Test" / "WithoutMask" / CLEAR_FACES["without_mask"][0],
              fm12k / "Test" / "WithMask" / CLEAR_FACES["with_mask"][0]]
    return mp4_video(images, out, seconds_each=1.0)


def test_a_real_video_file_is_described(faces_mp4):
    info = check_file(faces_mp4)
    assert (info.width, info.height, round(info.fps)) == (640, 480, 15) and info.codec == "h264"
    assert info.text == "640×480 at 15 frames/s (h264)"
    assert check_bytes(faces_mp4.read_bytes(), "upload.mp4") == info  # an upload, checked in memory
    assert player(faces_mp4.read_bytes(), loop=True).video is not None
    with pytest.raises(VideoSourceError, match="upload.mp4 is empty"):
        check_bytes(b"", "upload.mp4")


@pytest.mark.parametrize("content, why", [(b"", "is empty"), (b"not a video at all\n" * 50, "cannot be opened as a video")])
def test_a_bad_video_file_is_named_with_the_reason(tmp_path, content, why):
    path = tmp_path / "holiday.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoSourceError, match=f"my holiday.mp4 {why}"):
        check_file(path, "my holiday.mp4")


def test_a_truncated_video_file_is_refused(faces_mp4, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faces_mp4.read_bytes()[:2000])  # the header promises frames that are not there
    with pytest.raises(VideoSourceError, match="cut.mp4"):
        check_file(cut)


@pytest.mark.parametrize("url", ["", "camera.local/stream", "ftp://host/video", "file:///etc/passwd", "rtsp://"])
def test_a_malformed_stream_url_is_refused_before_any_connection(url):
    with pytest.raises(VideoSourceError, match="is not a stream URL"):
        check_url(url)


def test_a_stream_url_is_opened_and_an_unreachable_one_is_reported(faces_mp4, monkeypatch):
    monkeypatch.setenv("MASKDASH_LOCAL_STREAMS", "1")  # the test's server runs on this machine
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(faces_mp4.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{faces_mp4.name}"
        assert check_url(url).width == 640
        p = player(url)
        assert p.video is not None
        with pytest.raises(VideoSourceError, match="cannot be opened.*404 not found"):
            check_url(f"http://127.0.0.1:{server.server_port}/missing.mp4")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(VideoSourceError, match="refused the connection"):
        check_url(f"http://127.0.0.1:{server.server_port}/{faces_mp4.name}")  # the server is gone


@pytest.mark.parametrize("url", ["http://127.0.0.1:8501/", "rtsp://localhost/stream",
                                 "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/x"])
def test_the_servers_own_and_link_local_addresses_are_not_opened_for_visitors(url, monkeypatch):
    monkeypatch.delenv("MASKDASH_LOCAL_STREAMS", raising=False)
    with pytest.raises(VideoSourceError, match="MASKDASH_LOCAL_STREAMS=1"):
        check_url(url)


def test_an_unknown_host_is_named():
    with pytest.raises(VideoSourceError, match="the host camera.invalid was not found"):
        check_url("rtsp://camera.invalid:554/stream")


def test_a_file_that_is_not_a_video_says_so_in_words(tmp_path):
    path = tmp_path / "random.mp4"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(VideoSourceError, match="not a video format FFmpeg knows") as info:
        check_file(path)
    assert "Errno" not in str(info.value)


def test_a_cameras_password_is_never_shown_and_a_bad_port_is_named():
    from maskdash.inference.sources import shown_url

    assert shown_url("rtsp://admin:s3cret@cam.example:554/live") == "rtsp://admin:***@cam.example:554/live"
    assert shown_url("rtsp://cam.example/live") == "rtsp://cam.example/live"
    with pytest.raises(VideoSourceError) as info:
        check_url("rtsp://admin:s3cret@camera.invalid:554/stream")
    assert "s3cret" not in str(info.value) and "admin:***@" in str(info.value)
    with pytest.raises(VideoSourceError, match="port is not a number"):
        check_url("http://cam.example:abc/stream")
