"""`Client`: the benchlab server's HTTP API from Python (what `bench ... --server` uses).

    from orchestrator.client import Client
    c = Client("http://lab:8080", token="bench_...")
    study = c.submit("resnet.onnx", {"devices": ["tag:cpu"], "engines": ["onnxruntime"]})
    final = c.wait(study["id"])
    runs = c.runs(study=study["id"])

Which server, and which token: `--server`, else `$BENCH_SERVER`, else `server = "..."` in
`~/.config/bench/config.toml` (`$XDG_CONFIG_HOME/bench/config.toml`, or `$BENCH_CONFIG`);
the token from `$BENCH_TOKEN`, else `token = "..."` there. An explicit `--db` means the local
database, whatever the environment says.
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from agents import modelfiles
from agents.errors import UserError
from agents.runner import sha256_file

FINAL = ("done", "failed", "cancelled")


UPLOAD_RETRIES = 5  # a busy server (503) is asked again after 2, 4, 6, 8 s


class ServerError(UserError):
    """The server refused a request, or cannot be reached: one line, with what it said.

    Args:
        status: the HTTP status (0 when the server was not reached).
    """

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass
class ServerRef:
    """Where the server is, the token to use, and where that was found."""

    url: str
    token: str | None
    source: str


def config_path() -> Path:
    """The client config file: `$BENCH_CONFIG`, else `$XDG_CONFIG_HOME/bench/config.toml`,
    else ~/.config/bench/config.toml."""
    if os.environ.get("BENCH_CONFIG"):
        return Path(os.environ["BENCH_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "bench" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file's keys (`server`, `token`); {} when there is none.

    Raises:
        UserError: the file is not valid TOML, or has a key this version does not know.
    """
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    unknown = sorted(set(data) - {"server", "token"})
    if unknown:
        raise UserError(f"{path}: unknown key '{unknown[0]}' (known: server, token)")
    return data


def resolve_server(flag: str | None, db: str | None = None) -> ServerRef | None:
    """The server to talk to, or None for the embedded default (the local database).

    Raises:
        UserError: `--server` together with `--db`, or a bad config file.
    """
    if flag and db:
        raise UserError("give --server or --db, not both (--db is the local database)")
    if db:
        return None
    config = read_config()
    token = os.environ.get("BENCH_TOKEN") or config.get("token")
    if flag:
        return ServerRef(flag, token, "--server")
    if os.environ.get("BENCH_SERVER"):
        return ServerRef(os.environ["BENCH_SERVER"], token, "BENCH_SERVER")
    if config.get("server"):
        return ServerRef(str(config["server"]), token, str(config_path()))
    return None


class Client:
    """The HTTP API of `bench serve`.

    Args:
        url: the server, e.g. http://lab:8080.
        token: a bearer token (`bench token create` on the server).
        timeout_s: per request; uploads get no read limit while they are sent.
    """

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 60.0):
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self._httpx = httpx

    @classmethod
    def from_ref(cls, ref: ServerRef) -> Client:
        """A client for a resolved server."""
        return cls(ref.url, ref.token)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            r = self._http.request(method, path, **kwargs)
        except self._httpx.HTTPError as e:
            raise ServerError(f"cannot reach the benchlab server at {self.url}: {e}") from None
        if r.status_code >= 400:
            raise ServerError(_message(self.url, r), r.status_code)
        return r

    def health(self) -> dict[str, Any]:
        """`/healthz`: database, dispatcher, upload limit."""
        try:
            r = self._http.get("/healthz")
        except self._httpx.HTTPError as e:
            raise ServerError(f"cannot reach the benchlab server at {self.url}: {e}") from None
        return r.json()

    def has_model(self, sha256: str) -> bool:
        """Whether the server stores this content."""
        try:
            self._call("GET", f"/v1/models/{sha256}")
            return True
        except ServerError as e:
            if e.status == 404:
                return False
            raise

    def upload_model(self, path: Path) -> dict[str, Any]:
        """Store a model file on the server (a stored content is not sent again).

        Raises:
            ServerError: too large for the server (checked before sending), not a model, ...
        """
        path = Path(path)
        several = modelfiles.referenced(path)
        if several:
            raise ServerError(f"{path.name} keeps its weights in {', '.join(several)}: a server upload "
                              "carries one file; save the model without external data (under 2 GB) "
                              "or run it with the embedded default", 422)
        digest = sha256_file(path)
        if self.has_model(digest):
            return self._call("GET", f"/v1/models/{digest}").json()
        limit = self.health().get("max_upload_bytes")
        if limit and path.stat().st_size > limit:
            raise ServerError(f"{path}: {path.stat().st_size} bytes is over the server's upload limit "
                              f"of {limit} bytes", 413)
        for attempt in range(UPLOAD_RETRIES):  # 503: the server's uploads-at-once limit
            try:
                with open(path, "rb") as f:
                    return self._call("POST", "/v1/models", files={"model": (path.name, f)},
                                      data={"sha256": digest}, timeout=self._upload_timeout()).json()
            except ServerError as e:
                if e.status != 503 or attempt == UPLOAD_RETRIES - 1:
                    raise
                time.sleep(2.0 * (attempt + 1))
        raise AssertionError("unreachable")

    def _upload_timeout(self):
        return self._httpx.Timeout(60.0, write=None, read=600.0)

    def submit(self, model: Path | str | None, study: dict[str, Any],
               idempotency_key: str | None = None) -> dict[str, Any]:
        """Queue a study of `model` (uploaded unless the server has it) or of the stored
        models `study["models"]` names; a retry with the same key makes no second study."""
        body = dict(study)
        if model is not None:
            stored = self.upload_model(Path(model))
            shapes = body.pop("shapes", None) or {}
            body["models"] = [*body.get("models", []), {"sha256": stored["sha256"], "shapes": shapes}]
        key = idempotency_key or uuid.uuid4().hex
        for attempt in range(3):  # the key makes a retry safe: one study whatever happened
            try:
                return self._call("POST", "/v1/studies", json=body, headers={"Idempotency-Key": key}).json()
            except ServerError as e:
                if e.status not in (0, 503) or attempt == 2:
                    raise
                time.sleep(1.0 + attempt)
        raise AssertionError("unreachable")

    def study(self, study_id: str, jobs: bool = True) -> dict[str, Any]:
        """A study with its jobs per state (and its jobs)."""
        return self._call("GET", f"/v1/studies/{study_id}", params={"jobs": jobs}).json()

    def studies(self, last: int = 20) -> list[dict[str, Any]]:
        """The newest studies."""
        return self._call("GET", "/v1/studies", params={"last": last}).json()

    def job(self, job_id: str) -> dict[str, Any]:
        """A job with its spec and runs."""
        return self._call("GET", f"/v1/jobs/{job_id}").json()

    def devices(self) -> list[dict[str, Any]]:
        """The server's devices and their state."""
        return self._call("GET", "/v1/devices").json()

    def runs(self, last: int | None = 100, full: bool = False, **filters) -> list[dict[str, Any]]:
        """Runs, oldest first: the newest `last`, or every one (`last=None`, fetched in pages).

        Filters: study, status, device, engine, precision, model_sha256, series_key.
        """
        params = {k: v for k, v in filters.items() if v is not None}
        if last is not None:
            return self._call("GET", "/v1/runs", params={**params, "limit": last, "full": full}).json()["runs"]
        return list(self.iter_runs(full=full, **params))

    def iter_runs(self, full: bool = False, page: int = 500, **filters) -> Iterator[dict[str, Any]]:
        """Every run matching the filters, oldest first, a page at a time."""
        after = 0
        while True:
            got = self._call("GET", "/v1/runs", params={**filters, "after_id": after, "limit": page,
                                                        "full": full}).json()
            yield from got["runs"]
            if not got["runs"] or got["next_after_id"] is None:
                return
            after = got["next_after_id"]

    def cancel(self, target: str) -> dict[str, Any]:
        """Cancel a study, or else a job, by id."""
        try:
            return self._call("POST", f"/v1/studies/{target}/cancel").json()
        except ServerError as e:
            if e.status != 404:
                raise
        try:
            return self._call("POST", f"/v1/jobs/{target}/cancel").json()
        except ServerError as e:
            if e.status == 404:
                raise ServerError(f"no study or job '{target}' on {self.url}", 404) from None
            raise

    def dashboard(self, study_id: str, slo_p99_ms: float | None = None) -> str:
        """The study page as self-contained HTML."""
        params = {"slo_p99_ms": slo_p99_ms} if slo_p99_ms else {}
        return self._call("GET", f"/v1/studies/{study_id}/dashboard", params=params).text

    def dashboard_url(self, study_id: str) -> str:
        """Where the study page is served."""
        return f"{self.url}/v1/studies/{study_id}/dashboard"

    def wait(self, study_id: str, on_update: Callable[[dict[str, Any]], None] | None = None,
             poll_s: float = 0.5, stop: threading.Event | None = None) -> dict[str, Any]:
        """Poll a study until every job is final (or `stop` is set); returns the last state."""
        while True:
            state = self.study(study_id)
            if on_update:
                on_update(state)
            if state["total"] and state["finished"] >= state["total"]:
                return state
            if stop is not None and stop.wait(poll_s):
                return state
            if stop is None:
                time.sleep(poll_s)


def _message(url: str, r) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = r.text[:300]
    if isinstance(detail, list):  # pydantic's list of field errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail[:5])
    hint = ""
    if r.status_code == 401:
        hint = " (set BENCH_TOKEN or `token` in the config file; see `bench token create` on the server)"
    return f"server {url} answered {r.status_code}: {detail}{hint}"
