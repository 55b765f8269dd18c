"""Studies over HTTP: submitted by hash or with the upload, once per idempotency key (also
under concurrent requests), read back, cancelled; bad input is a 4xx naming the problem."""

import json
import threading
import uuid

import sqlalchemy as sa

from results.db import open_db

FAST = {"run": {"warmup_s": 0.05, "duration_s": 0.3, "iterations": 20}, "threads": 1}


def _study(sha: str, **kw) -> dict:
    return {"models": [{"sha256": sha}], "engines": ["onnxruntime"], **FAST, **kw}


def _studies_with_id(api, study_id: str) -> tuple[int, int]:
    engine = open_db(api.db)
    with engine.connect() as conn:
        studies = conn.execute(sa.text("SELECT count(*) FROM study WHERE id = :i"), {"i": study_id}).scalar()
        jobs = conn.execute(sa.text("SELECT count(*) FROM job WHERE study_id = :i"), {"i": study_id}).scalar()
    engine.dispose()
    return studies, jobs


def test_the_same_idempotency_key_twice_makes_one_study(api, stored_mlp):
    key = uuid.uuid4().hex
    with api.client() as c:
        first = c.post("/v1/studies", json=_study(stored_mlp, precisions=["fp32", "int8"]),
                       headers={"Idempotency-Key": key})
        again = c.post("/v1/studies", json=_study(stored_mlp, precisions=["fp32", "int8"]),
                       headers={"Idempotency-Key": key})
        other = c.post("/v1/studies", json=_study(stored_mlp), headers={"Idempotency-Key": key})
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and "used for another study" in other.json()["detail"]
    assert _studies_with_id(api, first.json()["id"]) == (1, 2)


def test_concurrent_submissions_with_one_key_make_one_study(api, stored_mlp):
    key, answers = uuid.uuid4().hex, []
    barrier = threading.Barrier(6)

    def send() -> None:
        with api.client() as c:
            barrier.wait()
            answers.append(c.post("/v1/studies", json=_study(stored_mlp), headers={"Idempotency-Key": key}))

    threads = [threading.Thread(target=send) for _ in range(6)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert sorted(r.status_code for r in answers) == [200] * 5 + [201], [r.text for r in answers]
    (study_id,) = {r.json()["id"] for r in answers}
    assert _studies_with_id(api, study_id) == (1, 1)


def test_a_multipart_study_uploads_its_model_and_reads_back(api, mlp_model):
    body = {**_study("0" * 64), "models": [], "name": "by upload", "precisions": ["fp32", "fp16"]}
    with api.client() as c:
        r = c.post("/v1/studies", files={"model": ("mlp.onnx", mlp_model.read_bytes())},
                   data={"study": json.dumps(body)})
        assert r.status_code == 201, r.text
        study = r.json()
        assert study["name"] == "by upload" and study["total"] == 2 and study["counts"] == {"queued": 2}
        assert {j["device"] for j in study["jobs"]} == {"local"}
        job = c.get(f"/v1/jobs/{study['jobs'][0]['id']}").json()
        assert job["spec"]["model"]["name"] == "mlp" and job["runs"] == []
        assert study["id"] in [s["id"] for s in c.get("/v1/studies").json()]
        cancelled = c.post(f"/v1/studies/{study['id']}/cancel").json()
        assert cancelled == {"kind": "study", "id": study["id"], "cancelled": 2, "stopping": 0}
        assert c.get(f"/v1/studies/{study['id']}").json()["counts"] == {"cancelled": 2}
        assert c.post(f"/v1/jobs/{study['id']}/cancel").status_code == 404
        assert c.get(f"/v1/studies/{study['id']}/dashboard").status_code == 404  # no runs yet
        devices = c.get("/v1/devices").json()
        assert devices[0]["name"] == "local" and "onnxruntime" in devices[0]["engines"]


def test_bad_studies_are_4xx_with_the_reason(api, stored_mlp):
    cases = [
        (_study("ab" * 32), 422, "is not stored on this server"),
        (_study(stored_mlp, engines=["onnxrt"]), 422, "unknown engine 'onnxrt'"),
        (_study(stored_mlp, devices=["tag:jetsn"]), 422, "matches no device"),
        (_study(stored_mlp, precisions=["fp64"]), 422, "unknown value 'fp64'"),
        (_study(stored_mlp, colour="red"), 422, "colour"),
        ({"engines": ["onnxruntime"]}, 422, "a study needs a model"),
        (_study(stored_mlp, scenarios=["server"]), 422, "qps"),
    ]
    with api.client() as c:
        for body, status, words in cases:
            r = c.post("/v1/studies", json=body)
            assert r.status_code == status and words in json.dumps(r.json()), (body, r.text)
        assert c.post("/v1/studies", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        assert c.get("/v1/studies/nope").status_code == 404
        assert c.get("/v1/runs", params={"limit": 0}).status_code == 422
