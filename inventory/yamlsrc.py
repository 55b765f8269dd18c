"""YAML with line numbers: mappings and lists remember where each key and item came from.

PyYAML's node marks are kept on the constructed values so that every later error can name the
file and the line, and duplicate keys (which plain PyYAML silently overwrites) are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agents.errors import UserError


class InventoryError(UserError):
    """Bad inventory or study input: names the file, the line, and the device and field."""


class Where:
    """A place in a source file, for error messages: `lab.yaml:12: device 'x': field 'port'`."""

    def __init__(self, file: str, line: int | None = None, device: str | None = None,
                 field: str | None = None):
        self.file, self.line, self.device, self.field = file, line, device, field

    def at(self, line: int | None = None, device: str | None = None,
           field: str | None = None) -> Where:
        """A narrower place: a later line, a device, a (dotted) field."""
        sub = f"{self.field}.{field}" if self.field and field else (field or self.field)
        return Where(self.file, line or self.line, device or self.device, sub)

    def error(self, message: str) -> InventoryError:
        """An InventoryError prefixed with this place."""
        parts = [f"{self.file}:{self.line}" if self.line else self.file]
        if self.device:
            parts.append(f"device '{self.device}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        return InventoryError(": ".join(parts) + f": {message}")


class LMap(dict):
    """A YAML mapping that knows its own line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """The line of `key`, or of the mapping itself."""
        return self.key_lines.get(key, self.line)


class LSeq(list):
    """A YAML sequence that knows its own line and the line of each item."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LMap:
    loader.flatten_mapping(node)
    out = LMap()
    out.line, out.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)):
            raise yaml.constructor.ConstructorError(None, None, "keys must be scalars",
                                                    key_node.start_mark)
        key = str(key)
        if key in out:
            raise _Duplicate(f"duplicate key '{key}' (first at line {out.key_lines[key]})", line)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LSeq:
    out = LSeq(loader.construct_object(item, deep=True) for item in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [item.start_mark.line + 1 for item in node.value]
    return out


class _Duplicate(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file into LMap/LSeq/scalars.

    Raises:
        InventoryError: the file is missing or unreadable, not YAML (with its line), or has a
            duplicate key.
    """
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InventoryError(f"{path}: cannot read: {e.strerror or e}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML text; `name` is the file name used in errors."""
    try:
        return yaml.load(text, Loader=_Loader)
    except _Duplicate as e:
        raise InventoryError(f"{name}:{e.line}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise InventoryError(f"{name}{line}: not valid YAML: {problem}") from None
