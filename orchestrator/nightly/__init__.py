"""Nightly suites: a study kept in a YAML file, run again and again, each series judged
against its own baseline (`bench nightly`, docs/NIGHTLY.md).

suite.py loads and checks the suite file; run.py submits, waits, confirms and stores; judge.py
applies the decision rule (results/compare.py) to one series; report.py writes the outputs.
"""
