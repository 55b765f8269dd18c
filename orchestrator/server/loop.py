"""The scheduler and dispatcher of `bench serve`, on a thread of the server process.

Unlike `bench worker`, a step that fails (the database restarting, say) is logged and tried
again at the next poll instead of ending the loop: the API stays up, and `/healthz` says what
went wrong.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from sqlalchemy.engine import Engine

from inventory import Device
from orchestrator.execute.dispatcher import DispatchConfig, Dispatcher

log = logging.getLogger("benchlab.server")


class DispatchLoop:
    """Runs `Dispatcher.step` until `close()`.

    Args:
        db: the database of the queue.
        devices: the devices this server drives.
        config: the dispatcher's timing and policies.
    """

    def __init__(self, db: Engine, devices: Sequence[Device], config: DispatchConfig):
        self.dispatcher = Dispatcher(db, devices, config)
        self.error: str | None = None
        self.last_step_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dispatch-loop", daemon=True)

    def start(self) -> None:
        """Start the device workers, the heartbeat and the loop."""
        self.dispatcher.start()
        self._thread.start()

    def wake(self) -> None:
        """Step now rather than at the next poll."""
        self.dispatcher.wake.set()

    def close(self, timeout_s: float = 90.0) -> None:
        """Stop stepping, then stop the workers (their running jobs go back to the queue)."""
        self._stop.set()
        self.dispatcher.wake.set()
        self._thread.join(timeout_s)

    @property
    def state(self) -> str:
        """running, stopped, or `error: ...` after a failed step."""
        if not self._thread.is_alive():
            return "stopped"
        return f"error: {self.error}" if self.error else "running"

    def _run(self) -> None:
        d = self.dispatcher
        try:
            while not self._stop.is_set():
                try:
                    d.step()
                    self.error, self.last_step_s = None, time.time()
                except Exception as e:  # keep serving; the next poll tries again
                    self.error = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
                    log.exception("dispatcher step failed")
                d.wake.wait(d.config.poll_s)
                d.wake.clear()
        finally:
            d.shutdown()
