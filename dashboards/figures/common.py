"""What every figure shares: the look, and saying plainly what data is missing.

A figure never draws a zero for a number that was not measured. A figure with nothing to draw
carries one annotation starting with `no data:` and the reason; a figure that draws some
variants but not others lists the missing ones and why under the plot.
"""

from __future__ import annotations

from typing import Iterable

import plotly.graph_objects as go

NO_DATA = "no data: "
_DATA_KEYS = ("x", "y", "z", "values", "q1", "cells")


def figure(title: str, x_title: str | None = None, y_title: str | None = None,
           height_px: int = 420) -> go.Figure:
    """An empty figure with the house layout."""
    fig = go.Figure()
    fig.update_layout(title={"text": title, "x": 0.01}, template="plotly_white",
                      height=height_px, margin={"l": 60, "r": 20, "t": 60, "b": 60})
    if x_title:
        fig.update_xaxes(title_text=x_title)
    if y_title:
        fig.update_yaxes(title_text=y_title)
    return fig


def no_data(fig: go.Figure, reason: str) -> go.Figure:
    """Mark a figure that has nothing to draw, with the reason, and hide its empty axes."""
    fig.add_annotation(text=NO_DATA + reason, x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font={"size": 15, "color": "#7a4b00"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def missing_note(fig: go.Figure, missing: Iterable[str], what: str = "not shown") -> go.Figure:
    """List under the plot the series a figure leaves out, each with its reason."""
    items = [m[:150] for m in missing]
    if items:
        shown = items[:6] + ([f"... and {len(items) - 6} more"] if len(items) > 6 else [])
        fig.add_annotation(text=f"{what}:<br>" + "<br>".join(shown), x=0, y=0, yshift=-50,
                           xref="paper", yref="paper", xanchor="left", yanchor="top",
                           align="left", showarrow=False, font={"size": 11, "color": "#7a4b00"})
        fig.update_layout(margin={"b": 80 + 16 * len(shown)},
                          height=(fig.layout.height or 420) + 16 * len(shown))
    return fig


def has_data(fig: go.Figure) -> bool:
    """Whether any trace of the figure has at least one data point."""
    for trace in fig.data:
        for key in _DATA_KEYS:
            value = getattr(trace, key, None)
            if key == "cells" and value is not None:
                value = value.values
            if value is not None and len(value) > 0:
                return True
    return False


def no_data_reason(fig: go.Figure) -> str | None:
    """The reason of a figure marked by `no_data`, or None."""
    for note in fig.layout.annotations:
        if note.text and note.text.startswith(NO_DATA):
            return note.text[len(NO_DATA):]
    return None


def title_of(fig: go.Figure) -> str:
    """The figure's title text ('' when untitled)."""
    return fig.layout.title.text or ""


def why_missing(status: str, error: str | None, reason: str | None = None) -> str:
    """A short reason a variant has no number: its failure, or the sensor's reason."""
    if status != "ok":
        return f"{status}: {(error or 'no message').splitlines()[0][:80]}"
    return reason or "not measured"
