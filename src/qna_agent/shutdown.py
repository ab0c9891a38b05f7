"""One shutdown deadline per process: `SHUTDOWN_GRACE_SECONDS` counted from SIGTERM.

uvicorn first waits for open connections (up to its graceful timeout), then runs the
lifespan's shutdown, which waits for turns still running in the background. Each wait used to
take the whole grace, so a shutdown could take twice as long as configured and overrun the
orchestrator's termination grace period. Here the deadline is set once, when the signal
arrives (uvicorn's handler is chained, not replaced), and everything counts down to it: turns
still running shortly before it are cancelled, so they are stored as `failed` and their
streams end with an `error` event before uvicorn stops waiting, and the lifespan only waits
for what is left. Without a signal (an embedded server told to exit) the deadline starts when
the shutdown does.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any]
# Turns are cancelled this long before the deadline: time to store their outcome, send the
# streams' last event and close the connections, so uvicorn need not cut them.
CANCEL_MARGIN_SECONDS = 2.0
CANCEL_MARGIN_SHARE = 0.2


class ShutdownDeadline:
    """When this process must be done shutting down."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._at: float | None = None

    @property
    def started(self) -> bool:
        """Whether the shutdown has begun."""
        return self._at is not None

    def begin(self) -> None:
        """Start counting down (the first call only)."""
        if self._at is None:
            self._at = time.monotonic() + self.grace_seconds

    def remaining(self) -> float:
        """Seconds left until the deadline (starting the count-down if it has not begun)."""
        self.begin()
        assert self._at is not None
        return max(0.0, self._at - time.monotonic())

    def cancel_margin(self) -> float:
        """How long before the deadline running turns are cancelled."""
        return min(CANCEL_MARGIN_SECONDS, self.grace_seconds * CANCEL_MARGIN_SHARE)

    @contextlib.contextmanager
    def on_signal(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
    ) -> Iterator[None]:
        """While inside: the first SIGTERM/SIGINT starts the deadline and runs `callback` in
        `loop`, before the handler that was installed (uvicorn's) runs as before.

        Only a Python handler is chained: without one (no server that handles the signal)
        nothing is installed. Signals can be handled in the main thread only."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        installed: dict[signal.Signals, tuple[Handler, Handler]] = {}
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if callable(previous):
                handler = self._chain(previous, loop, callback)
                signal.signal(sig, handler)
                installed[sig] = (handler, previous)
        try:
            yield
        finally:
            for sig, (handler, previous) in installed.items():
                if signal.getsignal(sig) is handler:  # nobody replaced it meanwhile
                    signal.signal(sig, previous)

    def _chain(
        self, previous: Handler, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
    ) -> Handler:
        def handler(signum: int, frame: FrameType | None) -> Any:
            if not self.started:
                self.begin()
                # A signal handler interrupts the loop between two bytecodes: hand over.
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(callback)
            return previous(signum, frame)

        return handler
