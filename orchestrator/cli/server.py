"""`bench serve` (the team orchestrator: HTTP API, scheduler and dispatcher in one process) and
`bench token create|list|revoke` (its API tokens)."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import Optional

import typer

from agents.errors import UserError
from orchestrator.cli.common import DB_HELP, INV_HELP, stdout_console
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
token_app = typer.Typer(no_args_is_help=True, help="API tokens of `bench serve` (stored hashed).")


def serve(
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(8080, "--port", help="port to listen on (0: any free port; the URL is printed)"),
    models: Optional[Path] = typer.Option(None, "--models", help="where uploaded models are kept (default: $BENCH_MODEL_STORE, else ~/.cache/benchlab/models)"),
    max_upload_mb: float = typer.Option(512.0, "--max-upload-mb", help="largest model accepted, MiB (larger: 413)"),
    max_uploads: int = typer.Option(4, "--max-uploads", help="uploads received at once (one more: 503, retry later)"),
    anonymous_read: bool = typer.Option(False, "--anonymous-read", help="GET requests need no token (writes always do)"),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="run the scheduler and dispatcher here (--no-worker: API only; run `bench worker` elsewhere)"),
    poll: float = typer.Option(1.0, "--poll", help="longest pause between scheduling steps, seconds"),
    job_timeout: float = typer.Option(3600.0, "--job-timeout", help="per-job limit when the study sets none"),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error"),
) -> None:
    """Run the team orchestrator: the HTTP API, the scheduler and the dispatcher in one process."""
    import uvicorn

    from orchestrator.execute.dispatcher import DispatchConfig
    from orchestrator.server import ServerSettings, create_app
    from orchestrator.server.settings import default_model_store

    if max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb must be > 0, got {max_upload_mb:g}")
    if max_uploads < 1:
        raise UserError(f"--max-uploads must be >= 1, got {max_uploads}")
    if log_level.lower() not in LOG_LEVELS:
        raise UserError(f"unknown --log-level '{log_level}'; known: {', '.join(LOG_LEVELS)}")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = ServerSettings(db=db, inventory=inventory, model_store=models or default_model_store(),
                              max_upload_bytes=int(max_upload_mb * 2**20), max_concurrent_uploads=max_uploads,
                              anonymous_read=anonymous_read,
                              worker=worker, dispatch=DispatchConfig(poll_s=poll, job_timeout_s=job_timeout))
    app = create_app(settings)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    ctx = app.state.ctx
    print(f"bench serve: http://{shown}:{bound} (database {ctx.db.url.render_as_string(hide_password=True)}, "
          f"{len(ctx.inventory.devices)} device(s), worker {'on' if worker else 'off'}, "
          f"models in {settings.model_store})", flush=True)
    config = uvicorn.Config(app, log_level=log_level.lower(), lifespan="on", timeout_graceful_shutdown=30)
    uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection; with proto 0 it
    # does not, and a small response waits 40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@token_app.command("create")
def token_create(name: str = typer.Option(..., "--name", help="who or what uses it (e.g. alice, nightly-ci)"),
                 read_only: bool = typer.Option(False, "--read-only", help="may read, may not submit or cancel"),
                 db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Create a token and print it, once: only its hash is stored."""
    from results.auth import create_token
    from results.db import open_db

    row, token = create_token(open_db(db), name, read_only)
    print(token)
    print(f"token {row.id} '{row.name}'{' (read-only)' if row.read_only else ''} created; it is shown "
          "only now: give it as BENCH_TOKEN or `token = \"...\"` in ~/.config/bench/config.toml",
          file=sys.stderr)


@token_app.command("list")
def token_list(all_tokens: bool = typer.Option(False, "--all", help="revoked ones too"),
               db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """The tokens (never the tokens themselves): id, name, access, created, last used."""
    from datetime import datetime, timezone

    from rich.table import Table

    from results.auth import list_tokens
    from results.db import open_db

    table = Table(title="API tokens")
    for col in ("id", "name", "access", "created (UTC)", "last used (UTC)", "revoked (UTC)"):
        table.add_column(col)
    for t in list_tokens(open_db(db), include_revoked=all_tokens):
        used = datetime.fromtimestamp(t.last_used_s, timezone.utc) if t.last_used_s else None
        table.add_row(t.id, t.name, "read-only" if t.read_only else "read-write", _when(t.created_at),
                      _when(used), _when(t.revoked_at))
    stdout_console().print(table)


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., help="the token's name or id"),
                 db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    from results.auth import revoke_token
    from results.db import open_db

    row = revoke_token(open_db(db), name)
    print(f"token {row.id} '{row.name}' revoked")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def register(app: typer.Typer) -> None:
    """Add `serve` and `token` to the `bench` app."""
    app.command()(serve)
    app.add_typer(token_app, name="token")
