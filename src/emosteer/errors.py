"""The one exception type emosteer raises for bad input, and how a command ends.

Raise EmosteerError where the problem is known, naming the file, the field and the first bad index;
`run` (used by the CLI and every pipeline stage) turns it into one line on stderr and exit code 2,
and so, as a backstop, an OSError, RecursionError, UnicodeError or MemoryError that no reader
turned into its own line (`input_error`).
SIGTERM and SIGINT end a command the same way: one line, exit 143 or 130, after every `finally`
has run (so each writer has removed its own temporary files, see emosteer.atomic).

Warnings and notes go one way: `logging.getLogger(__name__)` in every module below the `emosteer`
logger (`log.warning` for something the user should act on, `log.info` for what a command did).
While `run` runs a command (and in its SeedPool workers) they are printed as one line each,
`emosteer predict: warning: ...` / `emosteer stage data: ...`; a library caller configures logging
as it likes (unconfigured, Python prints warnings and drops notes).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOGGER = "emosteer"  # every module's logger is below it; stages log to "emosteer.stages"


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


class LineHandler(logging.Handler):
    """A log record as one line on stderr, prefixed by the command that runs."""

    def __init__(self, label: str) -> None:
        super().__init__(logging.INFO)
        self.label = label

    def emit(self, record: logging.LogRecord) -> None:
        kind = "warning: " if record.levelno >= logging.WARNING else ""
        print(f"{self.label}: {kind}{one_line(record.getMessage())}", file=sys.stderr, flush=True)


def print_log_lines(label: str) -> LineHandler:
    """Print emosteer's log records as `label: ...` lines from now on (a worker process's setup)."""
    handler = LineHandler(label)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def command_label() -> str | None:
    """The label of the command whose lines are being printed (for its worker processes), if any."""
    return next((h.label for h in logging.getLogger(LOGGER).handlers if isinstance(h, LineHandler)), None)


@contextlib.contextmanager
def log_lines(label: str) -> Iterator[None]:
    """`print_log_lines` for the duration of one command; the logger is left as it was."""
    logger = logging.getLogger(LOGGER)
    level = logger.level
    handler = print_log_lines(label)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def input_error(exc: BaseException) -> str | None:
    """The one line for an exception that bad input causes, wherever it surfaced (None: a bug, whose
    traceback is kept). EmosteerError says it in the words of the code that knew; the others are
    the backstop for a place that did not: an operating-system error names its file (a name over
    255 bytes, a folder it may not read, a full disk), a RecursionError is input nested thousands of
    levels deep, a UnicodeError a name or text that is not UTF-8, a MemoryError an input too large."""
    if isinstance(exc, EmosteerError):
        return str(exc)
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else "input"
        other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        return f"{name}{other}: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (Python's recursion limit): a JSON or YAML file nested thousands of levels deep?"  # noqa: E501 (a message: one line, so a user can grep for it)
    if isinstance(exc, (UnicodeEncodeError, UnicodeDecodeError)):
        near = exc.object[max(0, exc.start - 40) : exc.end + 20]
        return f"a name or text that is not valid UTF-8 ({exc.reason}) in {near!r}"
    if isinstance(exc, UnicodeError):
        return f"a name or text that is not valid UTF-8 ({exc})"
    if isinstance(exc, MemoryError):
        return "out of memory: an input or a size param far larger than this machine holds"
    return None


def raise_stopped(signum: int, frame: FrameType | None) -> None:
    """Signal handler: ignore further SIGTERM/SIGINT while cleaning up, and raise Stopped."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def run(label: str, call: Callable[[], object]) -> int:
    """Run `call()` as the command `label` ("emosteer predict", "emosteer stage data") and return
    its exit code: 0; 2 with one line for an EmosteerError (or another error of bad input:
    `input_error`); 128 + the signal's number (143 for
    SIGTERM, 130 for SIGINT) with one line when stopped. The previous handlers are restored.

    Python runs a signal handler between any two bytecodes, so the Stopped it raises can surface
    where it cannot propagate: inside a weakref callback or a __del__ (lost; Python would print
    it as "Exception ignored", which `run` keeps quiet) or inside C code that turns it into another
    exception (h5py raises a TypeError). The handler therefore also records the signal, and `run`
    ends as stopped whatever `call()` did after it: a lost Stopped lets the command finish, and it says so."""
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
        with log_lines(label):
            call()
    except (Stopped, KeyboardInterrupt) as exc:
        return stopped(exc.signum if isinstance(exc, Stopped) else signal.SIGINT, "its temporary files were removed")
    except Exception as exc:  # noqa: BLE001 - only when a signal arrived, else re-raised
        if received:  # the signal surfaced as another exception; every `finally` has run
            return stopped(received[0], "its temporary files were removed")
        line = input_error(exc)
        if line is not None:
            print(f"{label}: error: {one_line(line)}", file=sys.stderr)
            return 2
        raise
    finally:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:  # the Stopped was lost in a callback: the command ran to its end
        return stopped(received[0], "it had finished, and its outputs are complete")
    return 0
