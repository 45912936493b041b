"""Ctrl-C stops a command even where a library swallows the KeyboardInterrupt (cli/_interrupt.py).

Each case runs in its own process, which gets a real SIGINT once it says it is ready."""

import signal
import subprocess
import sys
import textwrap
import time

PRELUDE = """
import os, signal, sys, time
from domainfit.cli._interrupt import AGAIN_S, StopOnInterrupt
"""


def interrupted(body: str) -> tuple[str, str, float]:
    """Run ``body`` (which prints "ready" when the SIGINT should come), interrupt it once; return
    stdout, stderr and the seconds from the interrupt to the end."""
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "ready", proc.communicate(timeout=60)
    time.sleep(0.2)  # into the sleep after "ready"
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err, time.monotonic() - start


def test_a_swallowed_interrupt_is_delivered_again():
    # What an importer does when an extension's start-up is interrupted: the KeyboardInterrupt
    # becomes an ImportError and is caught. The command went on to the end (CI, exit 0).
    out, err, seconds = interrupted("""
        with StopOnInterrupt() as interrupts:
            try:
                print("ready", flush=True)
                try:
                    time.sleep(20)
                except KeyboardInterrupt:
                    print("swallowed", flush=True)
                time.sleep(20)
                print("went on", flush=True)
            except KeyboardInterrupt:
                interrupts.stopped()
                print("stopped", flush=True)
    """)
    assert out.split() == ["swallowed", "stopped"], (out, err)
    assert seconds < 5


def test_an_interrupt_in_a_callback_that_cannot_raise_stops_the_command_without_a_traceback():
    # JAX's garbage-collection hook: Python prints "Exception ignored in …" and goes on.
    out, err, seconds = interrupted("""
        class Held:
            def __del__(self):
                time.sleep(20)

        with StopOnInterrupt() as interrupts:
            try:
                held = Held()
                print("ready", flush=True)
                del held
                print("callback over", flush=True)
                time.sleep(20)
                print("went on", flush=True)
            except KeyboardInterrupt:
                interrupts.stopped()
                print("stopped", flush=True)
    """)
    assert out.split() == ["callback", "over", "stopped"], (out, err)
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert seconds < 5


def test_after_the_command_no_interrupt_is_delivered_and_the_old_handler_is_back():
    out, err, _ = interrupted("""
        def mine(signum, frame):
            print("own handler", flush=True)

        signal.signal(signal.SIGINT, mine)
        with StopOnInterrupt() as interrupts:
            try:
                print("ready", flush=True)
                time.sleep(20)
            except KeyboardInterrupt:
                interrupts.stopped()
                print("stopped", flush=True)
        time.sleep(4 * AGAIN_S)  # deliveries again would land here
        print("handler back" if signal.getsignal(signal.SIGINT) is mine else "handler lost", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    """)
    assert out.split("\n")[:3] == ["stopped", "handler back", "own handler"], (out, err)
