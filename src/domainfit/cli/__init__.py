"""Command-line interface: a thin shell over the public API, one module per command.

Every command module has ``add_parser(sub, parents)`` and ``run(args) -> int``; shared options and the
report output (``--json [FILE]``) live in ``_common``. Every error a user can cause ends as one line on
stderr and exit code 2 (``DomainfitError``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from ..errors import DomainfitError
from . import calibrate, compare, emulator, estimate, evaluate, generate, inspect, simulate, train
from ._common import check_outputs, check_values, json_parent
from ._interrupt import StopOnInterrupt, Terminated

COMMANDS = (simulate, inspect, generate, train, evaluate, calibrate, estimate, compare, emulator)
"""The command modules, in the order ``domainfit --help`` lists them."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one-line ``DomainfitError``s."""

    def error(self, message: str):
        raise DomainfitError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = _Parser(prog="domainfit", description="Material parameters from magnetic domain images.")
    parser.add_argument("--version", action="version", version=f"domainfit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parents = [json_parent()]  # options every command has
    for command in COMMANDS:
        command.add_parser(sub, parents)
    return parser


def _load_dependencies() -> None:
    """Import the numerical stack (seconds) with Ctrl-C ending the process at once: nothing has been
    written yet, and an interrupt inside an extension's start-up would otherwise surface as an
    ImportError or a traceback from a garbage-collection callback."""
    import importlib
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        importlib.import_module("jax")
        return

    def stop(signum, frame):
        os.write(2, b"domainfit: interrupted\n")
        os._exit(130)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        for module in ("equinox", "jax", "jax.numpy", "numpy"):
            importlib.import_module(module)
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``domainfit`` command; returns the exit code (130 after Ctrl-C)."""
    with StopOnInterrupt() as interrupts:
        try:
            args = build_parser().parse_args(argv)
            check_values(args)
            check_outputs(args)  # outputs the policy forbids or that cannot be written: refused before any work
            _load_dependencies()
            return args.handler(args)
        except DomainfitError as err:
            print(f"domainfit: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as stop:
            interrupts.stopped()
            print("domainfit: terminated" if isinstance(stop, Terminated) else "domainfit: interrupted", file=sys.stderr)
            return 143 if isinstance(stop, Terminated) else 130
        except BrokenPipeError:  # the reader went away (`domainfit estimate … | head`): not an error of ours
            sys.stdout = None
            return 0


def run() -> NoReturn:
    """The ``domainfit`` program (console script and ``python -m domainfit``): :func:`main`, then exit.

    After Ctrl-C the process ends at once (``os._exit``) instead of finalising the interpreter:
    XLA's compiler threads may still be working on the interrupted program (a segfault at exit was
    seen, 1 in ~40), and JAX's exit hooks would take a late Ctrl-C as a traceback."""
    try:
        code = main()
    except KeyboardInterrupt as stop:  # one that landed after main's own handling
        code = 143 if isinstance(stop, Terminated) else 130
    if code in (130, 143):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed or vanished stream; the exit code says it
                pass
        os._exit(code)
    raise SystemExit(code)
