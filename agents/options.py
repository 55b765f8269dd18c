"""Typed engine and sensor options: raw values (CLI strings, JSON) checked into dataclasses.

Numpy-free on purpose: the power registry and the probe use it on boards that may lack numpy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.errors import UserError


def build_options(cls: type, raw: dict[str, Any], source: str) -> Any:
    """Build a typed options dataclass, rejecting unknown keys and wrong types by name.

    Raises:
        UserError: an unknown key or a value of the wrong type, naming the key and `source`.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _type_names(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UserError(f"{source}: unknown option(s) {', '.join(unknown)} for {cls.__qualname__}; "
                        f"known: {', '.join(sorted(fields))}")
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(key, value, hints[key], source)
    opts = cls(**values)
    validate = getattr(opts, "validate", None)
    if validate:
        validate(source)
    return opts


def _type_names(cls: type) -> dict[str, str]:
    # Annotations are strings under `from __future__ import annotations` and types otherwise;
    # a plug-in may use either, so compare by name.
    out = {}
    for f in dataclasses.fields(cls):
        t = f.type
        out[f.name] = t if isinstance(t, str) else getattr(t, "__name__", None) or str(t)
        if not isinstance(t, str) and str(t).startswith(("int |", "float |", "str |", "bool |")):
            out[f.name] = str(t)
    return out


def _coerce(key: str, value: Any, type_name: str, source: str) -> Any:
    text = type_name
    if value is None:
        if "None" in text:
            return None
        raise UserError(f"{source}: option '{key}' may not be empty")
    try:
        if text.startswith("int"):
            return int(value)
        if text.startswith("float"):
            return float(value)
        if text.startswith("bool"):
            return _to_bool(value)
        if text.startswith("str"):
            return str(value)
    except ValueError:
        raise UserError(f"{source}: option '{key}' expects {text}, got {value!r}") from None
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)
