"""Reading what a page under AppTest serves (images, download buttons) from the media file
managers recorded by the `media_managers` fixture (conftest.py)."""

from __future__ import annotations


def served(managers: list, url: str) -> bytes:
    return managers[-1].read_file(url.rsplit("/", 1)[-1].split("?")[0]).content


def downloaded(managers: list, button) -> bytes:
    """The bytes a click on a download button gets (deferred downloads run their callable)."""
    proto = button.proto
    url = managers[-1].execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
    return served(managers, url)
