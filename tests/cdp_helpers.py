"""A headless Chromium (Debian's /usr/bin/chromium) driven over the Chrome DevTools Protocol.

No WebDriver: Chromium is started with ``--remote-debugging-port=0`` and a fresh
``--user-data-dir`` (it writes the port it chose to ``DevToolsActivePort`` there), and the
test talks CDP over the page's websocket with ``websocket-client`` (already locked). Events
that arrive while waiting for a reply are kept in ``events`` (console messages, exceptions).
Stop the browser with :meth:`Browser.close` (by pid).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0", "--window-size=1000,1500",
]  # fmt: skip


class CdpError(AssertionError):
    """A CDP command answered with an error."""


class Browser:
    """One headless Chromium with one page, and a CDP session on it."""

    def __init__(self, timeout_s: float = 30.0):
        if not CHROMIUM.is_file():
            pytest.skip(
                f"{CHROMIUM} is absent: the browser test needs Debian's chromium "
                "(make setup installs it as root: apt-get install chromium chromium-driver)"
            )
        import websocket

        self.profile = Path(tempfile.mkdtemp(prefix="veracity-chromium-"))
        log = (self.profile / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        self.events: list[dict] = []
        self._ids = itertools.count(1)
        deadline = time.monotonic() + timeout_s
        port_file = self.profile / "DevToolsActivePort"
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=timeout_s, suppress_origin=True
        )
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params) -> dict:
        """Run one CDP command; its ``result``."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg["result"]
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)  # fmt: skip
        if "exceptionDetails" in reply:
            raise CdpError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait(self, expression: str, timeout_s: float, what: str):
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Put ``paths`` into the file input ``selector`` (what a user's file dialog does)."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        assert node, f"no element {selector}"
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and CSP violations seen so far."""
        out = []
        for event in self.events:
            if event["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(event["params"]["exceptionDetails"])[:500])
            elif (
                event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error"
            ):
                out.append(event["params"]["entry"].get("text", "")[:500])
            elif (
                event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error"
            ):
                out.append(json.dumps(event["params"]["args"])[:500])
        return out

    def close(self) -> None:
        """Close the session, stop Chromium by pid, remove its profile."""
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)
