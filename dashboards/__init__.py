"""Dashboards: plotly figures (pure functions DataFrame -> Figure) and self-contained HTML pages.

`data` reads the database through `results` into DataFrames, `summary` aggregates them,
`figures` draws them, `pages` puts figures into one HTML file that needs no network.
"""
