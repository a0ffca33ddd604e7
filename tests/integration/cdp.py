"""A minimal Chrome DevTools Protocol driver for headless Chromium, enough to use a page by
keyboard as a person would (Tab, Enter, typing) and read what has focus. It needs only the
`websockets` package the services already depend on (no WebDriver, no browser download)."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

KEYS = {
    "Tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
}


class Browser:
    """One headless Chromium with one page, driven over the DevTools websocket."""

    def __init__(self, chromium: str, profile: Path, width: int = 1280, height: int = 900) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        pages = [
            t for t in httpx.get(f"http://127.0.0.1:{port}/json").json() if t["type"] == "page"
        ]
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None)
        self._id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events arriving meanwhile are dropped)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        r = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            time.sleep(0.1)

    def goto(self, url: str) -> None:
        """Navigate and wait for the load."""
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def press(self, name: str, shift: bool = False) -> None:
        """One key press (down and up), as a keyboard sends it."""
        key = dict(KEYS[name])
        mods = 8 if shift else 0
        self.send("Input.dispatchKeyEvent", type="keyDown", modifiers=mods, **key)
        key.pop("text", None)
        self.send("Input.dispatchKeyEvent", type="keyUp", modifiers=mods, **key)

    def type(self, text: str) -> None:
        """Type text into whatever has focus."""
        self.send("Input.insertText", text=text)

    def focused(self) -> dict[str, Any]:
        """What has focus: tag, id, text, href, and whether a focus ring is drawn and the element
        is on screen."""
        return dict(
            self.eval(
                """(() => { const e = document.activeElement; const s = getComputedStyle(e);
                const r = e.getBoundingClientRect();
                return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className,
                  text: (e.textContent || '').trim().slice(0, 80), href: e.getAttribute('href'),
                  ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
                  onScreen: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= -1}; })()"""
            )
        )

    def phone(self, width: int = 390, height: int = 844) -> None:
        """Lay the page out as a phone of that CSS width does (mobile viewport, touch UA)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=True,
        )

    def screenshot(self, path: Path, selector: str | None = None) -> None:
        """A PNG of the whole page, or of the element `selector` names."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        box = self.eval(
            f"""(() => {{ const e = {json.dumps(selector)} ? document.querySelector(
              {json.dumps(selector)}) : document.documentElement;
              const r = e.getBoundingClientRect();
              return [r.left + scrollX, r.top + scrollY, e.scrollWidth, r.height]; }})()"""
        )
        x, y, w, h = box
        params["clip"] = {"x": x, "y": y, "width": max(w, 1), "height": max(h, 1), "scale": 1}
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop the browser."""
        with contextlib.suppress(Exception):
            self.ws.close()
        self.proc.kill()
        self.proc.wait(10)
