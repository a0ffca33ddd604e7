"""The HTML page Walrus serves at `/v1/api`: Redoc with the OpenAPI document inside it."""

from __future__ import annotations

import json
from typing import Any

REDOC_SCRIPT = "https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"
"""Redoc's published bundle (what utoipa-redoc, used by Walrus, loads too)."""


def redoc_page(document: dict[str, Any]) -> str:
    """A self-describing page: the document is embedded as JSON (with `<`, `>` and `&`
    escaped so no text in it can close the script element) and rendered by Redoc."""
    spec = (
        json.dumps(document, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    title = str(document.get("info", {}).get("title", "API")).replace("<", "&lt;")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><div id='redoc-container'></div>"
        f"<script src='{REDOC_SCRIPT}'></script>"
        f"<script id='openapi' type='application/json'>{spec}</script>"
        "<script>Redoc.init(JSON.parse(document.getElementById('openapi').textContent),"
        "{},document.getElementById('redoc-container'));</script></body></html>\n"
    )
