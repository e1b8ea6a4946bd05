"""Video sources for the Live page besides the webcam: a video file or a stream URL (an IP camera's
RTSP/HTTP address), read on the server by aiortc's MediaPlayer (FFmpeg) and sent through the same
pipeline as the webcam.

`check_file` / `check_url` open the source once before it is offered to the player, so that a bad
file or an unreachable camera gets a message naming it and saying what is wrong, instead of a
stream that silently never starts."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

VIDEO_TYPES = ["mp4", "webm", "mov", "mkv", "avi", "m4v", "mpg", "mpeg"]
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
OPEN_TIMEOUT_S = 8  # an IP camera that has not answered by then is reported, not waited on


class VideoSourceError(ValueError):
    """A video file or stream that cannot be played; the message names it and says why."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float | None
    codec: str

    @property
    def text(self) -> str:
        rate = f" at {self.fps:.0f} frames/s" if self.fps else ""
        return f"{self.width}×{self.height}{rate} ({self.codec})"


def _options(url: str) -> dict:
    # RTSP over TCP: IP cameras behind NAT or firewalls often drop the default UDP transport.
    return {"rtsp_transport": "tcp"} if urlsplit(url).scheme in ("rtsp", "rtsps") else {}


def shown_url(url: str) -> str:
    """The URL as messages and captions show it: a camera's password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:  # "host:abc"
        return None


def _why(exc: BaseException, url: str | None) -> str:
    """FFmpeg's error in words a user can act on (its raw text said "[Errno 5] Input/output error")."""
    import av.error as e

    where = f"{urlsplit(url).hostname}:{_port(url) or 'its default port'}" if url else ""
    if isinstance(exc, e.InvalidDataError):
        return "its contents are not a video format FFmpeg knows (a damaged file, or another kind of file)"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection (nothing serves a stream there)"
    if isinstance(exc, (TimeoutError, e.ExitError)):  # ExitError: PyAV's timeout interrupted FFmpeg
        return f"{where} did not answer within {OPEN_TIMEOUT_S} s"
    if isinstance(exc, (e.HTTPUnauthorizedError, e.HTTPForbiddenError)):
        return "the server refused access (a camera that needs a login takes it as rtsp://user:password@host/…)"
    if isinstance(exc, e.HTTPNotFoundError):
        return "the server has nothing at that path (404 not found)"
    if isinstance(exc, e.HTTPError):
        return f"the server answered with an error ({getattr(exc, 'strerror', None) or exc})"
    return f"{getattr(exc, 'strerror', None) or exc}"


def _check_host(url: str) -> None:
    """The URL's host must resolve, and not to this server or a link-local address unless
    `settings.local_streams_allowed()`."""
    import ipaddress
    import socket

    from maskdash import settings

    parts, name = urlsplit(url), shown_url(url)
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise VideoSourceError(f"{name} is not a stream URL: its port is not a number") from None
    try:
        infos = socket.getaddrinfo(host, parts.port or None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        raise VideoSourceError(f"{name} cannot be opened: the host {host or '(none)'} was not found "
                               "(check the name, or give the camera's IP address)") from None
    if settings.local_streams_allowed():
        return
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            raise VideoSourceError(f"{name} is not read: {host} is this server itself or a link-local address, "
                                   "which the Live page does not open for visitors (set MASKDASH_LOCAL_STREAMS=1 "
                                   "where the app runs to allow it)")


def _probe(source, name: str, options: dict | None = None, timeout: float | None = None,
           url: str | None = None) -> VideoInfo:
    import av

    try:
        container = av.open(source, options=options or {}, timeout=timeout)
    except (av.FFmpegError, OSError) as exc:
        raise VideoSourceError(f"{name} cannot be opened as a video: {_why(exc, url)}") from None
    try:
        streams = container.streams.video
        if not streams:
            raise VideoSourceError(f"{name} has no video track")
        stream = streams[0]
        try:
            frame = next(container.decode(stream), None)
        except (av.FFmpegError, OSError) as exc:
            raise VideoSourceError(f"{name}: its video cannot be decoded ({_why(exc, url)})") from None
        if frame is None:
            raise VideoSourceError(f"{name}: its video track holds no frames")
        rate = float(stream.average_rate) if stream.average_rate else None
        return VideoInfo(frame.width, frame.height, rate, stream.codec_context.name)
    finally:
        container.close()


def check_file(path: str | Path, name: str | None = None) -> VideoInfo:
    """Open a video file and decode its first frame. Raises VideoSourceError."""
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise VideoSourceError(f"{name} does not exist")
    if path.stat().st_size == 0:
        raise VideoSourceError(f"{name} is empty (0 bytes)")
    return _probe(str(path), name)


def check_bytes(data: bytes, name: str) -> VideoInfo:
    """The same check for a video held in memory (an upload: it never touches the disk)."""
    if not data:
        raise VideoSourceError(f"{name} is empty (0 bytes)")
    return _probe(io.BytesIO(data), name)


def check_url(url: str) -> VideoInfo:
    """Check a stream URL's form, then open it and decode its first frame. Raises VideoSourceError."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES or not parts.netloc:
        raise VideoSourceError(f"{shown_url(url) or 'The address'} is not a stream URL: it should start with "
                               + ", ".join(f"{s}://" for s in URL_SCHEMES) + " and name a host")
    _check_host(url)
    return _probe(url, shown_url(url), _options(url), timeout=OPEN_TIMEOUT_S, url=url)


def player(source: str | bytes, loop: bool = False):
    """An aiortc MediaPlayer for a checked file path, URL or in-memory video (video only). A file
    is played at its own speed, and from the start again when `loop`."""
    from aiortc.contrib.media import MediaPlayer

    if isinstance(source, bytes):
        return MediaPlayer(io.BytesIO(source), loop=loop)  # a fresh reader per stream
    is_url = "://" in source
    return MediaPlayer(source, options=_options(source) if is_url else None,
                       timeout=OPEN_TIMEOUT_S if is_url else None, loop=loop and not is_url)
