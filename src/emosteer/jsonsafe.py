"""JSON text parsed strictly, for files that come from elsewhere (steering tables, splits, metrics).

`json.loads` keeps the last of two equal keys without a word (parsers differ on which one wins, so
the same file means different things to different tools), and an integer of more than 4300 digits
raises a ValueError that is not a JSONDecodeError. `loads` refuses both in one EmosteerError line;
a syntax error is one line too. Leaf module: imports nothing of ours but errors.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emosteer.errors import EmosteerError

MAX_INT_DIGITS = 4300  # Python's default int_max_str_digits: what int() reads from text


def loads(text: str | bytes, where: object) -> Any:
    """Parse `text` (bytes: UTF-8); `where` (the file) starts every error line, nesting too deep
    for the parser included."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_int=_int)
    except UnicodeDecodeError as exc:
        raise EmosteerError(f"{where}: not valid JSON (not UTF-8 text: byte {exc.start})") from None
    except RecursionError:
        raise EmosteerError(f"{where}: not valid JSON (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise EmosteerError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except _Refused as exc:
        raise EmosteerError(f"{where}: not valid JSON ({exc})") from None


class _Refused(ValueError):
    """Raised from inside the parser's hooks; `loads` adds the file."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"key {key!r} twice in one object")
        out[key] = value
    return out


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {digits} digits; at most {MAX_INT_DIGITS} are read")
    return int(text)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return loads(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError:
        raise EmosteerError(f"{path}: file not found (run the stage that writes it)") from None
    except UnicodeDecodeError:
        raise EmosteerError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise EmosteerError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None


def read_metrics(path: str | Path) -> Any:
    """`read_json` for files of numbers written by `write_json`: null (an undefined value, written
    for a NaN) comes back as NaN, so arithmetic and formatting need no special case."""
    return _null_as_nan(read_json(path))


def _null_as_nan(value: Any) -> Any:
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {k: _null_as_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_null_as_nan(v) for v in value]
    return value
