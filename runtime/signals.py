"""Ctrl-C, SIGTERM (docker stop, systemd) and SIGHUP (a closed terminal) end a run the same way.

The first signal asks the pipeline to drain: no more frames are read, those already read are
written, the outputs are finalized and the counts printed. A second signal stops every stage at
once but still finalizes the outputs; it never aborts half-way through writing a container.
Handlers are installed only on the main thread (Python's rule) and restored on exit.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Callable

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopOnSignals:
    """Context manager: `on_stop(signal name, drain)` is called for each stop signal received."""

    def __init__(self, on_stop: Callable[[str, bool], None], log=lambda text: print(text, file=sys.stderr)):
        self.on_stop, self.log = on_stop, log
        self.received: list[str] = []
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        first = len(self.received) == 1
        self.log(f"{name}: finishing the frames already read and closing the outputs; send again to stop at once"
                 if first else f"{name}: stopping now; the outputs are still being closed")
        self.on_stop(name, first)

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @property
    def exit_status(self) -> int | None:
        return signal_exit_status(self.received[0]) if self.received else None


def signal_exit_status(name: str) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + signal.Signals[name].value
