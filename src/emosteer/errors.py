"""The one exception type emosteer raises for bad input, and how a command ends.

Raise EmosteerError where the problem is known, naming the file, the field and the first bad index;
`run` (used by the CLI and every pipeline stage) turns it into one line on stderr and exit code 2.
SIGTERM and SIGINT end a command the same way: one line, exit 143 or 130, after every `finally`
has run (so each writer has removed its own temporary files, see emosteer.atomic).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class EmosteerError(Exception):
    """Bad input or configuration; the message is one complete line for the user."""


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived; raised in the main thread so that every `finally` runs.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def one_line(text: str) -> str:
    """`text` with every character the terminal would act on (newline, ESC, other control
    characters) written repr-style (\\n, \\x1b): a name read from a file cannot break the line or
    drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def raise_stopped(signum: int, frame: FrameType | None) -> None:
    """Signal handler: ignore further SIGTERM/SIGINT while cleaning up, and raise Stopped."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def run(label: str, call: Callable[[], object]) -> int:
    """Run `call()` as the command `label` ("emosteer predict", "emosteer stage data") and return
    its exit code: 0; 2 with one line for an EmosteerError; 128 + the signal's number (143 for
    SIGTERM, 130 for SIGINT) with one line when stopped. The previous handlers are restored.

    Python runs a signal handler between any two bytecodes, so the Stopped it raises can surface
    where it cannot propagate: inside a weakref callback or a __del__ (lost; Python would print
    it as "Exception ignored", which `run` keeps quiet) or inside C code that turns it into another exception (h5py raises a
    TypeError). The handler therefore also records the signal, and `run` ends as stopped whatever
    `call()` did after it: a lost Stopped lets the command finish, and it says so."""
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise_stopped(signum, frame)

    def stopped(signum: int, what: str) -> int:
        print(f"{label}: stopped by {signal.Signals(signum).name}; {what}", file=sys.stderr)
        return 128 + signum

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.exc_value, Stopped):  # a lost Stopped is reported below, in one line
            hook(info)

    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in SIGNALS} if main else {}
    hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        call()
    except (Stopped, KeyboardInterrupt) as exc:
        return stopped(exc.signum if isinstance(exc, Stopped) else signal.SIGINT,
                       "its temporary files were removed")
    except Exception as exc:  # noqa: BLE001 - only when a signal arrived, else re-raised
        if received:  # the signal surfaced as another exception; every `finally` has run
            return stopped(received[0], "its temporary files were removed")
        if isinstance(exc, EmosteerError):
            print(f"{label}: error: {one_line(str(exc))}", file=sys.stderr)
            return 2
        raise
    finally:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:  # the Stopped was lost in a callback: the command ran to its end
        return stopped(received[0], "it had finished, and its outputs are complete")
    return 0
