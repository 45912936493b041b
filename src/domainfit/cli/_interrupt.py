"""Ctrl-C stops a command, always.

A KeyboardInterrupt is an ordinary exception, and the numerical stack does not always let it through:
one raised while an extension module starts (JAX imports ``jaxlib.mlir.dialects.mhlo`` lazily, at its
first compilation) surfaces as an ImportError that the importer catches, and one raised in a callback
Python cannot raise from (JAX's garbage-collection hook) is only printed. In both the command went on
to the end and exited 0 (seen in CI: 1 in ~50 interrupts landed in that import). So while a command
runs, a Ctrl-C raises KeyboardInterrupt and is delivered again every :data:`AGAIN_S` seconds until
the command has stopped: a swallowed one is followed by another a moment later.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

AGAIN_S = 0.25
"""Seconds between deliveries of one Ctrl-C, until the command has stopped."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a batch system's time limit) inside a command: it unwinds as Ctrl-C does,
    so temporary files are removed and nothing is half-written; the command exits 143 (128 + 15)."""


def _set_handler(handler) -> None:
    """``signal.signal(SIGINT, handler)``; it runs pending handlers first, which may raise."""
    while True:
        try:
            signal.signal(signal.SIGINT, handler)
            return
        except KeyboardInterrupt:
            continue


class StopOnInterrupt:
    """Context manager around one command (main thread only; elsewhere it does nothing).

    Inside, SIGINT raises KeyboardInterrupt and, from the first one on, a daemon thread sends SIGINT
    again every :data:`AGAIN_S` s; :meth:`stopped` (call it where the KeyboardInterrupt is caught)
    and leaving the context end that, and ignore deliveries still on their way before the previous
    handler comes back. A KeyboardInterrupt in an unraisable context is not printed.
    """

    def __init__(self):
        self._active = threading.current_thread() is threading.main_thread()
        self._done = threading.Event()
        self._again: threading.Thread | None = None
        self._previous_handler = None
        self._previous_term = None
        self._previous_hook = None

    def _deliver_again(self) -> None:
        while not self._done.wait(AGAIN_S):
            os.kill(os.getpid(), signal.SIGINT)

    def _arm(self) -> None:
        if self._again is None and not self._done.is_set():
            self._again = threading.Thread(target=self._deliver_again, name="domainfit-interrupt", daemon=True)
            self._again.start()

    def _handler(self, signum, frame):
        self._arm()
        raise KeyboardInterrupt

    def _term_handler(self, signum, frame):
        self._arm()
        raise Terminated

    def _unraisable(self, hook_args) -> None:
        if issubclass(hook_args.exc_type, KeyboardInterrupt):
            self._arm()  # it is delivered again in a moment, where it can stop the command
            return
        self._previous_hook(hook_args)

    def stopped(self) -> None:
        """The command has stopped: no more deliveries, and those on their way are ignored."""
        self._done.set()
        if self._active:
            _set_handler(signal.SIG_IGN)

    def __enter__(self) -> StopOnInterrupt:
        if self._active:
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
            self._previous_handler = signal.getsignal(signal.SIGINT)
            self._previous_term = signal.getsignal(signal.SIGTERM)
            _set_handler(self._handler)
            signal.signal(signal.SIGTERM, self._term_handler)
        return self

    def __exit__(self, *exc) -> None:
        if not self._active:
            return
        self.stopped()
        if self._again is not None:
            self._again.join()
        sys.unraisablehook = self._previous_hook
        _set_handler(self._previous_handler)
        signal.signal(signal.SIGTERM, self._previous_term)
