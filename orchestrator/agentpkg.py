"""Moved to orchestrator/transports/agentpkg.py; kept while tests/agents imports it."""

from orchestrator.transports.agentpkg import ZIPAPP_MAIN, build_zipapp  # noqa: F401

_MAIN = ZIPAPP_MAIN  # the old private name, until tests/agents/test_python38.py reads ZIPAPP_MAIN
