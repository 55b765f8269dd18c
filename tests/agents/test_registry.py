"""agents.registry.Registry: lazy built-ins, entry points read once and loaded on demand,
duplicates refused, the known names listed on a miss."""

from __future__ import annotations

import sys

import pytest

from agents.errors import UserError
from agents.registry import Registry


class UnknownWidget(UserError):
    """A test's own error type."""


def _plugin(tmp_path, monkeypatch, group: str, entries: dict) -> None:
    """A real distribution on sys.path registering `entries` (name -> "module:attr") in `group`."""
    dist = tmp_path / "widgets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: widgets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{group}]\n" + "".join(f"{n} = {t}\n" for n, t in entries.items()))
    monkeypatch.syspath_prepend(str(tmp_path))


def _widgets(**kw) -> Registry:
    return Registry("widget", "benchlab.test-widgets",
                    {"path": "pathlib:PurePosixPath", "json": "json:dumps"}, **kw)


def test_builtins_are_imported_only_when_asked_for_and_cached():
    widgets = _widgets()
    assert widgets.names() == ["json", "path"] and "path" in widgets and "nope" not in widgets
    import pathlib
    assert widgets.get("path") is pathlib.PurePosixPath
    assert widgets.get("path") is widgets.get("path")


def test_a_miss_lists_the_reserved_then_the_known_names():
    widgets = _widgets(reserved=("auto", "none"), error=UnknownWidget)
    with pytest.raises(UnknownWidget, match=r"^unknown widget 'jsn'; known: auto, none, json, path$"):
        widgets.get("jsn")
    with pytest.raises(UserError, match="unknown widget 'auto'"):  # reserved selects no plug-in
        widgets.get("auto")


def test_duplicates_and_reserved_names_are_refused():
    widgets = _widgets(reserved=("auto",))
    widgets.register("mine", len)
    for taken in ("json", "mine", "auto"):
        with pytest.raises(ValueError, match=f"^widget '{taken}' is already registered$"):
            widgets.register(taken, len)
    assert widgets.get("mine") is len and widgets.names() == ["json", "mine", "path"]


def test_copy_forgets_what_was_registered():
    widgets = _widgets()
    widgets.register("mine", len)
    fresh = widgets.copy()
    assert "mine" not in fresh and fresh.names() == ["json", "path"]
    fresh.register("mine", abs)
    assert widgets.get("mine") is len and fresh.get("mine") is abs


def test_entry_points_are_listed_without_import_and_loaded_once(tmp_path, monkeypatch):
    (tmp_path / "widget_plugin.py").write_text("LOADS = []\nLOADS.append(1)\ndef make():\n    return 'made'\n")
    _plugin(tmp_path, monkeypatch, "benchlab.test-widgets",
            {"plug": "widget_plugin:make", "json": "widget_plugin:make", "auto": "widget_plugin:make"})
    widgets = _widgets(reserved=("auto",))
    assert widgets.names() == ["json", "path", "plug"] and "widget_plugin" not in sys.modules
    with pytest.raises(ValueError, match="'plug' is already registered"):
        widgets.register("plug", len)
    assert widgets.get("plug")() == "made" and widgets.get("plug") is widgets.get("plug")
    assert sys.modules["widget_plugin"].LOADS == [1]
    assert widgets.get("json").__module__ == "json"  # a built-in wins over a plug-in's name
