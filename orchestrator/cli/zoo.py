"""`bench zoo`: the built-in synthetic models (ONNX, and a few real .tflite ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from agents.errors import UserError
from orchestrator.cli.common import stdout_console

FORMATS = ("onnx", "tflite")


def zoo(
    name: str = typer.Argument(..., help="a zoo model name, or 'list'"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="where to write the model file"),
    batch: int = typer.Option(1, "--batch", help="batch size fixed in the model"),
    dynamic: bool = typer.Option(False, "--dynamic", help="leave the batch dimension symbolic"),
    fmt: str = typer.Option("onnx", "--format", help="onnx, or tflite for the .tflite zoo (see list)"),
    hidden: Optional[int] = typer.Option(None, "--hidden", help="mlp only: first hidden layer width (default 1024; wider is more work per inference)"),
) -> None:
    """List the built-in synthetic models, or write one as ONNX or TFLite."""
    if name == "list":
        list_models()
        return
    print(write(name, output or Path(f"{name}.{fmt}"), None if dynamic else batch, fmt, hidden))


def list_models() -> None:
    """Print every zoo model with its format and description."""
    import zoo as models
    from zoo import tflite

    table = Table(title="benchlab zoo")
    for col in ("name", "format", "description"):
        table.add_column(col)
    for entry in models.list_models():
        table.add_row(entry.name, "onnx", entry.description)
    for entry in tflite.list_models():
        table.add_row(entry.name, "tflite", entry.description)
    stdout_console().print(table)


def write(name: str, path: Path, batch: int | None, fmt: str = "onnx", hidden: int | None = None) -> Path:
    """Build zoo model `name` in format `fmt` (onnx or tflite) and write it to `path`;
    `hidden` widens the mlp's first layer (more work per inference).

    Raises:
        UserError: unknown name or format, or a bad batch size.
    """
    import zoo as models
    from zoo import tflite

    if fmt not in FORMATS:
        raise UserError(f"unknown --format '{fmt}'; known: {', '.join(FORMATS)}")
    try:
        if fmt == "tflite":
            if hidden is not None:
                raise UserError("--hidden applies to the ONNX mlp only")
            return tflite.save(name, path, batch=batch)
        return models.save(name, path, batch=batch, hidden=hidden)
    except ValueError as e:  # UnknownModel is a ValueError too
        raise UserError(str(e)) from None


def register(app: typer.Typer) -> None:
    """Add `zoo`."""
    app.command()(zoo)
