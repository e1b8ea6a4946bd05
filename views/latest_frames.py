"""Live video that shows fewer frames under load, never older ones.

streamlit-webrtc connects its tracks (camera → frame callback → encoder) through aiortc's
`MediaRelay`, whose proxies default to `buffered=True`: an unbounded queue per consumer. When the
encoder or the pipeline cannot keep up with the camera's 30 frames/s (a loaded CPU, several
viewers), every frame still waits its turn, so the picture falls seconds behind the camera and
keeps falling. With `buffered=False` a proxy holds only the newest frame: a slow consumer skips
frames, and the delay stays bounded by one frame's processing and encoding.

The library takes its relay from one server-wide slot (`streamlit_webrtc.relay.get_global_relay`);
`install()` fills that slot, before the first stream, with a relay whose proxies always keep only
the newest frame. The slot's name is read from the library, not copied, and `install()` checks
that the library then hands out this relay: on a release where it does not, the page carries on
with the library's own relay and says so in the log (the latency browser test would then fail)."""

from __future__ import annotations

import logging

from aiortc.contrib.media import MediaRelay

log = logging.getLogger(__name__)


class LatestFrameRelay(MediaRelay):
    """A MediaRelay whose consumers see only the newest frame (no queue)."""

    def subscribe(self, track, buffered: bool = False):  # noqa: ARG002 - every consumer is live
        return super().subscribe(track, buffered=False)


def install() -> bool:
    """Make streamlit-webrtc use a LatestFrameRelay for every stream of this server; True when in
    effect. Safe to call on every page run (the first call decides)."""
    try:
        from streamlit.runtime.runtime import Runtime
        from streamlit_webrtc import relay as webrtc_relay

        slot = webrtc_relay._SERVER_GLOBAL_RELAY_ATTR_NAME_
        runtime = Runtime.instance()
        if not isinstance(getattr(runtime, slot, None), LatestFrameRelay):
            if hasattr(runtime, slot):
                # Streams already made on the old relay keep it; new ones get this one.
                log.info("replacing streamlit-webrtc's relay with LatestFrameRelay")
            setattr(runtime, slot, LatestFrameRelay())  # a MediaRelay binds to no event loop when made
        in_effect = isinstance(webrtc_relay.get_global_relay(), LatestFrameRelay)
    except (ImportError, AttributeError, RuntimeError, TypeError) as exc:
        log.warning("live video may queue frames under load: could not set its relay (%s)", exc)
        return False
    if not in_effect:
        log.warning("live video may queue frames under load: streamlit-webrtc ignores the relay set")
    return in_effect
