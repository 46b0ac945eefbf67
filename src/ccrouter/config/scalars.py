"""The rules for a config's single values: whole numbers, numbers, true or false, strings, objects and lists.

The loader, the policy keys and the transformer option checks all read values through these, so one value is
accepted or refused the same way wherever it appears. A number may also be written as a string holding it,
because `"$VAR"` interpolates to a string. The `read_*` functions take the object the key sits in and the key,
return the default for a missing (null) value, and refuse a wrong one with a `ConfigError` naming the key path,
what it holds and what it must hold. The plain converters (`whole_number`, `positive_int`, `number`) answer None
for a value they cannot use, for callers that word their own message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ccrouter.errors import ConfigError

T = TypeVar("T")

_KIND_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


def shown(value: Any) -> str:
    """A value as a message quotes it: short scalars as written, never a long string (it may be a key)."""
    if isinstance(value, str):
        return repr(value) if len(value) < 40 else "a long string"
    if isinstance(value, (dict, list)):
        return _KIND_NAMES[type(value)]
    return "null" if value is None else repr(value)


# ---------------------------------------------------------------------------------------------------------------
# Converters: the value, or None when it is not usable


def whole_number(value: Any) -> int | None:
    """An int (not a bool), or a string of digits; else None. Negative ints are returned as they are."""
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def positive_int(value: Any) -> int | None:
    """A whole number above 0 (also from a string of digits); else None."""
    found = whole_number(value)
    return found if found is not None and found > 0 else None


def number(value: Any) -> float | int | None:
    """A finite int or float (not a bool), or a string holding one; else None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------------------------
# Readers: `block[key]`, its default when missing, or a ConfigError naming `prefix + key`


def read_typed(block: Mapping[str, Any], key: str, kind: type[T], default: T, *, prefix: str = "", like: str = "") -> T:
    """`block[key]` when it is a `kind` (an object, list, string or bool); `like` adds an example to the message."""
    value = block.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        example = f", like {like}" if like else ""
        raise ConfigError(f"{prefix}{key} must be {_KIND_NAMES.get(kind, kind.__name__)}{example}, not {shown(value)}.")
    return value


def read_text(block: Mapping[str, Any], key: str, *, prefix: str = "") -> str | None:
    """An optional string; an empty one (an empty `$VAR`) counts as not set."""
    return read_typed(block, key, str, "", prefix=prefix) or None


def read_whole_number(
    block: Mapping[str, Any], key: str, default: int, *, prefix: str = "", minimum: int = 0, unit: str = ""
) -> int:
    """A whole number, `minimum` or more; missing or "" gives `default`. `unit` (e.g. "milliseconds") is for the
    message."""
    value = block.get(key)
    if value is None or value == "":
        return default
    found = whole_number(value)
    if found is None or found < minimum:
        of_unit = f" of {unit}" if unit else ""
        raise ConfigError(
            f"{prefix}{key} is {shown(value)}; it must be a whole number{of_unit}, {minimum} or more"
            + (f", like {default}." if default >= minimum else ".")
        )
    return found


def read_positive_number(block: Mapping[str, Any], key: str, default: float, *, unit: str, prefix: str = "") -> float:
    """A number above 0 (fractions allowed); missing gives `default`."""
    value = block.get(key)
    if value is None:
        return default
    found = number(value)
    if found is None or found <= 0:
        raise ConfigError(f"{prefix}{key} is {shown(value)}; it must be a positive number of {unit}, like {default:g}.")
    return found


def read_bool(block: Mapping[str, Any], key: str, default: bool, *, prefix: str = "") -> bool:
    """true or false, also written as "true", "false", "1" or "0" (a `$VAR`)."""
    value = block.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    if not isinstance(value, bool):
        raise ConfigError(f"{prefix}{key} is {shown(value)}; it must be true or false.")
    return value


def reject_unknown_keys(
    block: Mapping[str, Any], known: Sequence[str], where: str, *, whose: str = "its", note: str = ""
) -> None:
    """Refuse an object holding a key outside `known`, naming the first such key and listing the known ones
    ("<where> has the unknown key 'x'; <whose> keys are a, b<note>.")."""
    unknown = next((key for key in block if key not in known), None)
    if unknown is not None:
        raise ConfigError(f"{where} has the unknown key {unknown!r}; {whose} keys are {', '.join(known)}{note}.")
