"""`bench zoo`: the built-in synthetic models."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents.errors import UserError
from orchestrator import zoo


def list_models(console: Console) -> None:
    """Print every zoo model with its description."""
    table = Table(title="benchlab zoo")
    table.add_column("name")
    table.add_column("description")
    for entry in zoo.list_models():
        table.add_row(entry.name, entry.description)
    console.print(table)


def write(name: str, path: Path, batch: int | None) -> Path:
    """Build zoo model `name` and write it to `path`.

    Raises:
        UserError: unknown name or a bad batch size.
    """
    try:
        return zoo.save(name, path, batch=batch)
    except ValueError as e:  # UnknownModel is a ValueError too
        raise UserError(str(e)) from None
