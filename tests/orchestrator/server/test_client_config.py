"""Which server the client talks to: --server, else BENCH_SERVER, else the config file; an
explicit --db is the local database; a bad config file is one line naming it."""

import pytest

from agents.errors import UserError
from orchestrator.client import resolve_server


@pytest.fixture
def config(tmp_path, monkeypatch):
    for var in ("BENCH_SERVER", "BENCH_TOKEN", "BENCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "bench" / "config.toml"
    path.parent.mkdir()
    return path


def test_flag_then_environment_then_config_file(config, monkeypatch):
    assert resolve_server(None) is None  # nothing configured: the embedded default
    config.write_text('server = "http://from-file:1"\ntoken = "bench_file"\n')
    ref = resolve_server(None)
    assert (ref.url, ref.token, ref.source) == ("http://from-file:1", "bench_file", str(config))
    monkeypatch.setenv("BENCH_SERVER", "http://from-env:2")
    monkeypatch.setenv("BENCH_TOKEN", "bench_env")
    assert (resolve_server(None).url, resolve_server(None).token) == ("http://from-env:2", "bench_env")
    assert resolve_server("http://flag:3").url == "http://flag:3"
    assert resolve_server(None, db="local.db") is None  # --db: the local database wins
    with pytest.raises(UserError, match="--server or --db, not both"):
        resolve_server("http://flag:3", db="local.db")


def test_a_bad_config_file_is_one_clear_error(config):
    config.write_text('server = "http://x\n')
    with pytest.raises(UserError, match="config.toml: not valid TOML"):
        resolve_server(None)
    config.write_text('sever = "http://x"\n')
    with pytest.raises(UserError, match="unknown key 'sever'"):
        resolve_server(None)
