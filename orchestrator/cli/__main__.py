"""`python -m orchestrator.cli ...`: the same as the `bench` console script."""

from orchestrator.cli import main

main()
