"""Tokens: no token or a wrong one is 401, a read-only token cannot write (403), a revoked
token stops working, only hashes are stored; `bench token create|list|revoke`."""

import hashlib

import sqlalchemy as sa

from results import auth
from results.db import open_db

READS = ["/v1/runs", "/v1/devices", "/v1/studies", "/v1/studies/nope", "/v1/jobs/nope",
         "/v1/studies/nope/dashboard", "/v1/models/" + "0" * 64]
WRITES = ["/v1/studies", "/v1/models", "/v1/studies/nope/cancel", "/v1/jobs/nope/cancel"]


def test_no_token_or_a_wrong_one_is_401_everywhere_but_health(api):
    for token in (None, "wrong", "bench_00000000_" + "x" * 43):
        with api.client(token) as c:
            for path in READS:
                r = c.get(path)
                assert r.status_code == 401, (token, path, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
            for path in WRITES:
                assert c.post(path, json={}).status_code == 401, (token, path)
    with api.client(None) as c:
        assert c.get("/healthz").json()["database"] == "ok"
        assert c.get("/openapi.json").json()["info"]["title"] == "benchlab"


def test_a_read_only_token_reads_and_cannot_write(api, mlp_model):
    with api.client("read") as c:
        assert c.get("/v1/devices").status_code == 200
        assert c.get("/v1/runs").json()["runs"] is not None
        r = c.post("/v1/models", files={"model": ("ro.onnx", mlp_model.read_bytes())})
        assert r.status_code == 403 and "read-only" in r.json()["detail"]
        for path in WRITES[2:]:
            assert c.post(path).status_code == 403
    assert not any(p.name == "ro.onnx" for p in api.store.rglob("*.onnx"))  # nothing was stored


def test_a_revoked_token_is_refused_from_the_next_request(api):
    engine = open_db(api.db)
    row, token = auth.create_token(engine, "short-lived")
    with api.client(token) as c:
        assert c.get("/v1/studies").status_code == 200
        auth.revoke_token(engine, "short-lived")
        assert c.get("/v1/studies").status_code == 401
    engine.dispose()


def test_tokens_are_stored_only_as_hashes(api):
    engine = open_db(api.db)
    with engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM api_token"))]
    engine.dispose()
    cells = [cell for row in rows for cell in row]
    assert cells and not any(api.token in cell or api.token.split("_")[2] in cell for cell in cells)
    assert hashlib.sha256(api.token.encode()).hexdigest() in cells


def test_token_verbs_print_the_token_once(tmp_path, bench):
    db = str(tmp_path / "t.db")
    made = bench("token", "create", "--name", "alice", "--db", db)
    token = made.stdout.strip()
    assert made.returncode == 0 and token.startswith("bench_") and "shown only now" in made.stderr
    assert bench("token", "create", "--name", "alice", "--db", db).returncode == 1  # a live name is unique
    ro = bench("token", "create", "--name", "dash", "--read-only", "--db", db)
    listing = bench("token", "list", "--db", db).stdout
    assert "alice" in listing and "read-write" in listing and "read-only" in listing
    assert token not in listing and ro.stdout.strip() not in listing
    assert "revoked" in bench("token", "revoke", "alice", "--db", db).stdout
    assert "alice" not in bench("token", "list", "--db", db).stdout
    assert "alice" in bench("token", "list", "--all", "--db", db).stdout
    again = bench("token", "revoke", "alice", "--db", db)
    assert again.returncode == 1 and again.stderr.startswith("error: no live token named 'alice'")
    assert auth.verify(open_db(db), token) is None
