"""The content type an upload declares, kept as the blob's `content-type` attribute."""

from __future__ import annotations

from haulout.protocol.attributes import check_servable

IGNORED = frozenset({"application/octet-stream", "application/x-www-form-urlencoded"})
"""Types that say nothing about the bytes: the default of HTTP clients (curl's `--data-binary`
sends form-urlencoded), so they are not recorded."""


def upload_content_type(header: str | None) -> str | None:
    """The `Content-Type` of a PUT to record, or None when it says nothing; a value that could
    never be served back as a header raises `InvalidAttribute` (400), before anything is paid."""
    if header is None:
        return None
    value = header.strip()
    if not value or value.split(";", 1)[0].strip().lower() in IGNORED:
        return None
    check_servable("content-type", value)
    return value
