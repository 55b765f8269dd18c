"""`bench zoo`: the built-in synthetic models (ONNX, and a few real .tflite ones)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents.errors import UserError
import zoo
from zoo import tflite as zoo_tflite

FORMATS = ("onnx", "tflite")


def list_models(console: Console) -> None:
    """Print every zoo model with its description."""
    table = Table(title="benchlab zoo")
    table.add_column("name")
    table.add_column("format")
    table.add_column("description")
    for entry in zoo.list_models():
        table.add_row(entry.name, "onnx", entry.description)
    for entry in zoo_tflite.list_models():
        table.add_row(entry.name, "tflite", entry.description)
    console.print(table)


def write(name: str, path: Path, batch: int | None, fmt: str = "onnx", hidden: int | None = None) -> Path:
    """Build zoo model `name` in format `fmt` (onnx or tflite) and write it to `path`;
    `hidden` widens the mlp's first layer (more work per inference).

    Raises:
        UserError: unknown name or format, or a bad batch size.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown --format '{fmt}'; known: {', '.join(FORMATS)}")
    try:
        if fmt == "tflite":
            if hidden is not None:
                raise UserError("--hidden applies to the ONNX mlp only")
            return zoo_tflite.save(name, path, batch=batch)
        return zoo.save(name, path, batch=batch, hidden=hidden)
    except ValueError as e:  # UnknownModel is a ValueError too
        raise UserError(str(e)) from None
