"""Uploads: the size limit (413, nothing left on disk), a file that is not a model (422 with
the reason), a `../` name stored inside the store, sha256 checked, a slow upload beside
other requests."""

import hashlib
import uuid

from server_helpers import UPLOAD_LIMIT_MB, chunk, raw_request, read_response

BOUNDARY = "benchlabtestboundary"


def _part_head(name: str, filename: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"model\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()


def _head(api, path: str, extra: list[str]) -> list[str]:
    host = api.url.split("//")[1]
    return [f"POST {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {api.token}",
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}", *extra]


def _store_files(api) -> set:
    return {p.relative_to(api.store) for p in api.store.rglob("*") if p.is_file()}


def test_an_oversized_upload_is_413_and_leaves_nothing_on_disk(api):
    before = _store_files(api)
    sock = raw_request(api.url, _head(api, "/v1/models", ["Transfer-Encoding: chunked"]))
    sock.sendall(chunk(_part_head("model", "big.onnx")))
    block = b"\0" * (1 << 20)
    try:
        for _ in range(UPLOAD_LIMIT_MB * 3):  # 3x the limit, then the end of the body
            sock.sendall(chunk(block))
        sock.sendall(chunk(f"\r\n--{BOUNDARY}--\r\n".encode()) + b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer (and close) before the body ends
    status, body = read_response(sock)
    sock.close()
    assert status == 413 and b"limit" in body
    assert _store_files(api) == before  # the partial file is gone
    assert not any((api.store / "incoming").iterdir())


def test_an_upload_declaring_a_huge_length_is_refused_before_its_body(api):
    sock = raw_request(api.url, _head(api, "/v1/models", [f"Content-Length: {10 * 2**30}"]))
    status, _ = read_response(sock)  # answered without one byte of the 10 GiB sent
    sock.close()
    assert status == 413


def test_a_file_that_is_not_a_model_is_422_with_the_reason(api):
    before = _store_files(api)
    with api.client() as c:
        r = c.post("/v1/models", files={"model": ("notes.onnx", b"this is not a protobuf" * 50)})
        assert r.status_code == 422 and "notes.onnx is not a valid ONNX model" in r.json()["detail"]
        assert str(api.store) not in r.json()["detail"]  # server paths are not shown
        r = c.post("/v1/models", files={"model": ("notes.txt", b"hello")})
        assert r.status_code == 422 and "unsupported model format" in r.json()["detail"]
        r = c.post("/v1/studies", files={"model": ("x.tflite", b"NOPE" * 10)}, data={"study": "{}"})
        assert r.status_code == 422 and "not a valid TFLite model" in r.json()["detail"]
        assert c.post("/v1/models", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    assert _store_files(api) == before


def test_a_dotdot_name_is_stored_inside_the_store(api, mlp_model, tmp_path):
    evil = f"../../../{tmp_path.name}/{uuid.uuid4().hex[:6]}/../evil model.onnx"
    data = mlp_model.read_bytes() + b""  # same content as mlp: make it distinct
    import onnx
    proto = onnx.load_from_string(data)
    proto.doc_string = uuid.uuid4().hex
    data = proto.SerializeToString()
    with api.client() as c:
        r = c.post("/v1/models", files={"model": (evil, data)})
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["name"] == "evil_model.onnx" and stored["original_name"] == evil
    assert (api.store / stored["sha256"] / "evil_model.onnx").read_bytes() == data
    assert not list(tmp_path.rglob("evil*"))


def test_sha256_is_checked_and_a_stored_content_is_kept_once(api, mlp_model):
    data = mlp_model.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with api.client() as c:
        r = c.post("/v1/models", files={"model": ("m.onnx", data)}, data={"sha256": "ab" * 32})
        assert r.status_code == 422 and "sha256 mismatch" in r.json()["detail"]
        first = c.post("/v1/models", files={"model": ("m.onnx", data)}, data={"sha256": digest})
        again = c.post("/v1/models", files={"model": ("other-name.onnx", data)})
        assert first.status_code in (200, 201) and again.status_code == 200
        assert c.get(f"/v1/models/{digest}").json()["size_bytes"] == len(data)
    assert len(list((api.store / digest).iterdir())) == 1


def test_a_slow_upload_does_not_block_other_requests(api, mlp_model):
    data = mlp_model.read_bytes()
    sock = raw_request(api.url, _head(api, "/v1/models", ["Transfer-Encoding: chunked"]))
    sock.sendall(chunk(_part_head("model", "slow.onnx")) + chunk(data[: len(data) // 2]))
    # The upload is half sent and its connection open: other clients are still served.
    with api.client() as c:
        for _ in range(5):
            assert c.get("/v1/studies").status_code == 200
            assert c.get("/healthz").status_code == 200
    sock.sendall(chunk(data[len(data) // 2:]) + chunk(f"\r\n--{BOUNDARY}--\r\n".encode()) + b"0\r\n\r\n")
    status, body = read_response(sock)
    sock.close()
    assert status in (200, 201), body


def test_a_model_with_external_data_is_422_and_the_client_says_so_before_sending(api, tmp_path):
    import onnx
    import pytest

    import zoo
    from orchestrator.client import Client, ServerError

    path = tmp_path / "ext" / "mlp.onnx"
    path.parent.mkdir()
    onnx.save(zoo.build("mlp"), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="mlp.weights", size_threshold=0)
    before = _store_files(api)
    with api.client() as c:
        r = c.post("/v1/models", files={"model": ("mlp.onnx", path.read_bytes())})
    assert r.status_code == 422 and "refers to external data files (mlp.weights)" in r.json()["detail"]
    with pytest.raises(ServerError, match="keeps its weights in mlp.weights: a server upload carries one file"):
        Client(api.url, token=api.token).upload_model(path)
    assert _store_files(api) == before


def test_uploads_beyond_the_limit_at_once_are_503_with_retry_after(api, mlp_model):
    """Four slow uploads hold the server's four upload slots (the default): a fifth is told to
    retry; reads go on; once the four end, uploads are taken again."""
    data = mlp_model.read_bytes()
    slow = []
    for i in range(4):
        sock = raw_request(api.url, _head(api, "/v1/models", ["Transfer-Encoding: chunked"]))
        sock.sendall(chunk(_part_head("model", f"slow{i}.onnx")) + chunk(data[: len(data) // 2]))
        slow.append(sock)
    try:
        with api.client() as c:
            for _ in range(50):  # the server reads the four heads asynchronously
                r = c.post("/v1/models", files={"model": ("fifth.onnx", data)})
                if r.status_code == 503:
                    break
            assert r.status_code == 503 and r.headers["retry-after"] == "2"
            assert "uploads are being received" in r.json()["detail"]
            assert c.get("/healthz").status_code == 200
    finally:
        for sock in slow:
            sock.sendall(chunk(data[len(data) // 2:]) + chunk(f"\r\n--{BOUNDARY}--\r\n".encode()) + b"0\r\n\r\n")
            status, body = read_response(sock)
            sock.close()
            assert status in (200, 201), body
    with api.client() as c:
        assert c.post("/v1/models", files={"model": ("fifth.onnx", data)}).status_code in (200, 201)
