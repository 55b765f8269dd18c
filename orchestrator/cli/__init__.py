"""The `bench` command: one module per verb group, each thin (parse the flags, call the layer
below, render). Nothing outside this package imports it.

    run.py      bench run                     (submit + local worker + wait, on the queue road)
    queue.py    bench submit|status|cancel|worker
    fleet.py    bench fleet list|probe|setup|release
    results.py  bench results|compare|dashboard
    nightly.py  bench nightly
    server.py   bench serve, bench token create|list|revoke
    zoo.py      bench zoo
    remote.py   the --server side of submit, status, results, cancel, dashboard
    common.py   shared flags (the knob set of run and submit), consoles, server choice
    render.py, columns.py   progress lines and tables
"""

from __future__ import annotations

import sys

import typer

from agents.errors import BenchError
from orchestrator.cli import fleet, nightly, queue, results, run, server, zoo
from orchestrator.cli.common import err

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="benchlab: compile and benchmark ML models on a fleet of devices.")
for group in (run, results, zoo, queue, fleet, nightly, server):
    group.register(app)


def main() -> None:
    """Console-script entry point: a BenchError is one line on stderr and exit code 1."""
    try:
        app()
    except BenchError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
