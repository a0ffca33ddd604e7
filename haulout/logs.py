"""Structured log lines (one JSON object per line) for every service."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra}` per line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.get("fields", {}).items():
            out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(level: str = "INFO") -> None:
    """Send structured lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    if root.getEffectiveLevel() > logging.DEBUG:  # one line per internal call: DEBUG only
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel("WARNING")


def event(logger: logging.Logger, msg: str, **fields: object) -> None:
    """Log `msg` with structured fields."""
    logger.info(msg, extra={"fields": fields})


def debug(logger: logging.Logger, msg: str, **fields: object) -> None:
    """Log a routine step (one of several per request) with structured fields, at DEBUG."""
    logger.debug(msg, extra={"fields": fields})
