"""Typed field readers for YAML configs: each checks one value and names it when it is wrong."""

from __future__ import annotations

import difflib
from typing import Any, Iterable

from inventory.yamlsrc import LMap, Where


def check_keys(data: LMap, known: Iterable[str], where: Where, what: str) -> None:
    """Refuse any key of `data` not in `known`, naming it, its line and the nearest known key.

    Raises:
        InventoryError: an unknown key.
    """
    known = sorted(known)
    for key in data:
        if key not in known:
            near = difflib.get_close_matches(key, known, 1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise where.at(data.line_of(key), field=key).error(
                f"unknown key '{key}' in {what}{hint} (known: {', '.join(known)})")


def mapping(value: Any, where: Where) -> LMap:
    """A YAML mapping (an empty one for null)."""
    if value is None:
        empty = LMap()
        empty.line, empty.key_lines = where.line or 0, {}
        return empty
    if not isinstance(value, LMap):
        raise where.error(f"expected a mapping, got {_kind(value)}")
    return value


def string(value: Any, where: Where, optional: bool = False) -> str | None:
    """A non-empty string (numbers are accepted and turned into text)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        raise where.error(f"expected a non-empty string, got {_kind(value)}")
    return str(value)


def integer(value: Any, where: Where, minimum: int | None = None, optional: bool = True) -> int | None:
    """An integer, at least `minimum`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(f"expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise where.error(f"must be >= {minimum}, got {value}")
    return value


def number(value: Any, where: Where, minimum: float | None = None, optional: bool = True) -> float | None:
    """A number (int or float), at least `minimum`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"expected a number, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise where.error(f"must be >= {minimum:g}, got {value:g}")
    return float(value)


def strings(value: Any, where: Where) -> tuple[str, ...]:
    """A list of strings; a single string is a list of one; null is empty."""
    if value is None:
        return ()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return (str(value),)
    if not isinstance(value, list):
        raise where.error(f"expected a list of strings, got {_kind(value)}")
    return tuple(string(v, where) for v in value)


def cpu_list(value: Any, where: Where) -> tuple[int, ...] | None:
    """CPU numbers: a list `[0, 1]`, one number, or taskset-style text `"0-3,6"`."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str):
        try:
            value = _parse_ranges(value)
        except ValueError:
            raise where.error(f"expected CPU numbers like [0, 1] or \"0-3,6\", got {value!r}") from None
    if not isinstance(value, list) or not value:
        raise where.error(f"expected a non-empty list of CPU numbers, got {_kind(value)}")
    cpus = tuple(integer(v, where, minimum=0, optional=False) for v in value)
    return tuple(sorted(set(cpus)))


def _parse_ranges(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
