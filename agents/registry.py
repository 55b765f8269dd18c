"""Named plug-ins: built-ins as lazy 'module:attr' strings, third parties by entry point.

One registry per plug-in axis (engines, power sensors, transports):

    ENGINES: Registry[Callable[[], Engine]] = Registry(
        "engine", "benchlab.engines", {"onnxruntime": "agents.engines.onnxruntime.engine:..."})
    ENGINES.get("onnxruntime")   # imports that module only now; cached
    ENGINES.names()              # built-ins + registered + entry points, sorted, nothing imported

Entry points are read (metadata only) the first time `names`, `get` or `register` needs them,
and an entry point is loaded only when its name is asked for. A built-in or registered name
wins over an entry point of the same name. Runs on a board's Python 3.8 (`typing.Generic`).
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Generic, List, Mapping, Optional, Sequence, Type, TypeVar

from agents.compat import entry_points
from agents.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to plug-ins of one kind, refusing duplicates and listing the known names on a miss."""

    def __init__(self, kind: str, group: str, builtins: Mapping[str, str],
                 reserved: Sequence[str] = (), error: Type[UserError] = UserError):
        """
        Args:
            kind: what the plug-ins are, for messages ("engine", "power sensor").
            group: the entry-point group third parties register in ("benchlab.engines").
            builtins: name -> "module:attr", imported only when the name is asked for.
            reserved: names that select no plug-in (power's "auto", "none"): never registered,
                listed first on a miss.
            error: raised for an unknown name (a UserError subclass).
        """
        self.kind, self.group, self.error = kind, group, error
        self._builtins = dict(builtins)
        self._reserved = tuple(reserved)
        self._loaded: Dict[str, T] = {}      # built-ins imported, entry points loaded
        self._registered: Dict[str, T] = {}  # register()ed in this process
        self._entry_points: Optional[Dict[str, Any]] = None  # read on first need

    def register(self, name: str, item: T) -> None:
        """Add `item` under `name`.

        Raises:
            ValueError: the name is a built-in, registered, an entry point's, or reserved.
        """
        if name in self._reserved or name in self:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._registered[name] = item

    def names(self) -> List[str]:
        """Every name, sorted: built-ins, registered ones and entry points (nothing imported)."""
        return sorted({*self._builtins, *self._registered, *self._read_entry_points()})

    def get(self, name: str) -> T:
        """The plug-in called `name`, importing its module (or loading its entry point) once.

        Raises:
            self.error: no such name, with the reserved and known names.
        """
        if name in self._registered:
            return self._registered[name]
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    def copy(self) -> "Registry[T]":
        """The same built-ins, nothing registered, entry points unread (for tests)."""
        return Registry(self.kind, self.group, self._builtins, self._reserved, self.error)

    def __contains__(self, name: object) -> bool:
        return (name in self._builtins or name in self._registered
                or name in self._read_entry_points())

    def _load(self, name: str) -> T:
        if name in self._builtins:
            module, attr = self._builtins[name].split(":")
            found: T = getattr(importlib.import_module(module), attr)
            return found
        entry = self._read_entry_points().get(name)
        if entry is None:
            known = ", ".join([*self._reserved, *self.names()])
            raise self.error(f"unknown {self.kind} '{name}'; known: {known}")
        loaded: T = entry.load()
        return loaded

    def _read_entry_points(self) -> Dict[str, Any]:
        if self._entry_points is None:
            taken = {*self._builtins, *self._reserved}
            self._entry_points = {}
            for ep in entry_points(self.group):
                if ep.name not in taken and ep.name not in self._entry_points:
                    self._entry_points[ep.name] = ep
        return self._entry_points
