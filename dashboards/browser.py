"""Open a page in headless Chromium over the DevTools protocol and report what it drew.

For the browser tests and `benchmarks/dashboard_build.py`: a page passes when it logs no
console error or exception and every plotly figure holds a trace with data points. Needs
Debian's `chromium` and the `websocket-client` package (the `test` extra); both are imported or
started only when a `Chromium` is created.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,1000")
# Per figure: how many traces it has and how many of them hold at least one data point.
_FIGURES_JS = """JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => ({
  id: g.id, traces: (g._fullData || []).length,
  with_points: (g._fullData || []).filter(t => t.visible !== false && ['x','y','z','values','q1'].some(
      k => t[k] && t[k].length > 0)).length,
  drawn: !!(g._fullLayout && g.querySelector('.main-svg'))})))"""
_READY_JS = ("document.readyState === 'complete' && Array.from(document.querySelectorAll("
             "'.plotly-graph-div')).every(g => g._fullLayout && g.querySelector('.main-svg'))")


@dataclass
class PageReport:
    """What a page did in the browser."""

    errors: list[str] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    render_s: float = 0.0
    no_data_notes: list[str] = field(default_factory=list)

    def empty_figures(self) -> list[str]:
        """Ids of figures without any trace that holds a data point."""
        return [f["id"] for f in self.figures if f["with_points"] == 0]


class Chromium:
    """A headless Chromium process and one DevTools connection to a tab."""

    def __init__(self, executable: str = CHROMIUM, timeout_s: float = 30.0):
        import websocket  # the test extra's websocket-client

        self._profile = tempfile.TemporaryDirectory(prefix="bench-chromium-")
        self._proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self._profile.name}",
                                       "about:blank"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        port = self._port(Path(self._profile.name) / "DevToolsActivePort", timeout_s)
        tab = self._page_target(port, timeout_s)
        self._ws = websocket.create_connection(tab["webSocketDebuggerUrl"], timeout=timeout_s,
                                               suppress_origin=True)
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _port(self, path: Path, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError(f"chromium wrote no DevTools port within {timeout_s:g} s")

    @staticmethod
    def _page_target(port: int, timeout_s: float) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout_s) as r:
            targets = json.load(r)
        return next(t for t in targets if t.get("type") == "page")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        return result["result"].get("value")

    def open(self, path: Path, timeout_s: float = 60.0) -> PageReport:
        """Load a file, wait until every plotly figure is drawn, and report.

        Raises:
            TimeoutError: the figures were not drawn within `timeout_s`.
        """
        self._events.clear()
        start = time.perf_counter()
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        while not self.evaluate(_READY_JS):
            if time.perf_counter() - start > timeout_s:
                raise TimeoutError(f"{path}: figures not drawn within {timeout_s:g} s")
            time.sleep(0.02)
        report = PageReport(render_s=time.perf_counter() - start)
        report.figures = json.loads(self.evaluate(_FIGURES_JS))
        report.no_data_notes = self.evaluate(
            "Array.from(document.querySelectorAll('.no-data')).map(e => e.innerText)")
        self.evaluate("1")  # flush: events logged while the page settled arrive before this reply
        report.errors = [e for e in map(_error_text, self._events) if e]
        return report

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=min(height, 16000),
                  deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _error_text(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return "exception: " + (details.get("exception", {}).get("description")
                                or details.get("text", "?"))
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return "console: " + " ".join(str(a.get("value", a.get("description", "")))
                                      for a in params.get("args", []))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        return "log: " + params["entry"].get("text", "")
    return None
