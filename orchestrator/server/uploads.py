"""Model uploads: a multipart body streamed to disk in chunks, hashed on the way, cut off at
the size limit; then checked to be a model and published under its sha256.

The body is parsed as it arrives (python-multipart's push parser on `request.stream()`), so
a slow upload holds one coroutine, not a thread, and nothing is buffered beyond a chunk. A
file that passes the limit is deleted at once; what the client still sends is read and
dropped (up to a bound), so that it receives the 413 instead of a reset connection.

Layout of the store: `incoming/<random>/` while a file arrives, then `<sha256>/<name>`,
published by one rename. The name is the upload's file name reduced to its last path
component and to `[A-Za-z0-9._-]`, so `../../etc/x.onnx` is stored as `x.onnx`, inside the
store; the name as sent is kept in the database as data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from agents import modelfiles
from agents.errors import UserError
from orchestrator.plan.modelinfo import SUPPORTED_SUFFIXES, read_inputs
from results import auth

FIELD_LIMIT = 1 << 20  # a form field (the study's JSON) is at most 1 MiB
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(HTTPException):
    """The upload passed the server's size limit (413)."""

    def __init__(self, limit: int):
        super().__init__(413, detail=f"upload larger than this server's limit of {limit} bytes")


def safe_name(name: str) -> str:
    """The stored file name of an upload: its last path component, in a safe alphabet.

    Raises:
        UserError: not a supported model file name.
    """
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[:120]
    if not base or Path(base).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UserError(f"model file name {name[:200]!r}: unsupported model format; "
                        f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    return base


@dataclass
class Received:
    """An upload on disk, not yet checked: its folder, name, size, hash, and the form fields."""

    fields: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    name: str | None = None
    original_name: str | None = None
    size: int = 0
    sha256: str | None = None

    def discard(self) -> None:
        """Remove what was written."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class _Form:
    """Callbacks of the push parser: fields into memory, the one file part onto disk."""

    def __init__(self, incoming: Path, limit: int):
        self.incoming, self.limit, self.got = incoming, limit, Received()
        self.too_large, self.error = False, None
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self._name: str | None = None
        self._buf: bytearray | None = None
        self._file = None
        self._hash = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield,
                "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _hend(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            self._buf = bytearray()
            return
        self._buf = None
        if self._name != "model" or self.got.folder is not None or self.error:
            self.error = self.error or "one file part named 'model' is allowed"
            return
        original = filename.decode("utf-8", "replace")
        try:
            name = safe_name(original)
        except UserError as e:
            self.error = str(e)
            return
        self.got.folder = self.incoming / uuid.uuid4().hex
        self.got.folder.mkdir(parents=True)
        self.got.name, self.got.original_name = name, original
        self._file = open(self.got.folder / name, "wb")
        self._hash = hashlib.sha256()

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._buf is not None:
            if len(self._buf) + len(chunk) > FIELD_LIMIT:
                self.error = f"form field '{self._name}' is larger than {FIELD_LIMIT} bytes"
                self._buf = None
            else:
                self._buf += chunk
            return
        if self._file is None:
            return
        self.got.size += len(chunk)
        if self.got.size > self.limit:
            self.too_large = True
            self._close()
            self.got.discard()
            return
        self._file.write(chunk)
        self._hash.update(chunk)

    def _end(self) -> None:
        if self._buf is not None and self._name:
            self.got.fields[self._name] = self._buf.decode("utf-8", "replace")
            self._buf = None
        elif self._file is not None:
            self.got.sha256 = self._hash.hexdigest()
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def receive_upload(ctx, request: Request) -> Received:
    """`receive` within the server's limit of uploads at once.

    Raises:
        HTTPException: 503 with Retry-After when `max_concurrent_uploads` are being received;
            what `receive` raises.
    """
    if ctx.uploads_in_flight >= ctx.settings.max_concurrent_uploads:
        raise HTTPException(503, detail=f"{ctx.uploads_in_flight} uploads are being received, the "
                                        "server's limit; retry shortly", headers={"Retry-After": "2"})
    ctx.uploads_in_flight += 1
    try:
        return await receive(request, ctx.settings.model_store, ctx.settings.max_upload_bytes)
    finally:
        ctx.uploads_in_flight -= 1


async def receive(request: Request, store: Path, limit: int) -> Received:
    """Read a multipart body: fields, and at most one file part `model` written to disk.

    Raises:
        TooLarge: the body says or turns out to be larger than `limit` (+1 MiB of fields).
        HTTPException: 415 not multipart, 422 a malformed body or a bad file name.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise HTTPException(415, detail="expected multipart/form-data with a boundary")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 2 * FIELD_LIMIT:
        raise TooLarge(limit)  # said up front: refuse before reading a byte
    incoming = store / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    form = _Form(incoming, limit)
    parser = MultipartParser(params[b"boundary"], form.callbacks())
    received, drained = 0, 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if form.too_large or form.error:
                drained += len(chunk)  # read and dropped, so the client gets our answer
                if drained > limit + 2 * FIELD_LIMIT:
                    break
                continue
            parser.write(chunk)
        if not form.too_large and not form.error:
            parser.finalize()
    except Exception as e:  # a malformed body, or the client went away
        form._close()
        form.got.discard()
        raise HTTPException(422, detail=f"malformed multipart body: {type(e).__name__}: {e}"[:300]) from None
    form._close()
    if form.too_large:
        raise TooLarge(limit)
    if form.error:
        form.got.discard()
        raise HTTPException(422, detail=form.error)
    if form.got.folder is not None and form.got.sha256 is None:
        form.got.discard()
        raise HTTPException(422, detail="the 'model' part ended early (truncated body)")
    return form.got


async def store_upload(ctx, got: Received, uploaded_by: str) -> auth.StoredModel:
    """Check a received file (sha256 if the client sent one, then: is it a model?) and
    publish it in the store; a content already stored is kept once.

    Raises:
        HTTPException: 422 with the reason (hash mismatch, not a model).
    """
    expected = got.fields.get("sha256", "").strip().lower()
    if expected and expected != got.sha256:
        got.discard()
        raise HTTPException(422, detail=f"sha256 mismatch: the client said {expected[:64]}, "
                                        f"the server received {got.sha256} ({got.size} bytes)")
    path = got.folder / got.name
    try:
        await run_in_threadpool(read_inputs, path)
    except UserError as e:
        got.discard()
        raise HTTPException(422, detail=str(e).replace(str(path), got.name)) from None
    several = await run_in_threadpool(modelfiles.referenced, path)
    if several:
        got.discard()
        raise HTTPException(422, detail=f"{got.name} refers to external data files ({', '.join(several)[:300]}), "
                                        "which an upload cannot carry: save the model as one file")
    known = await run_in_threadpool(auth.stored_model, ctx.db, got.sha256)
    if known is not None and Path(known.path).is_file():
        got.discard()
        return known
    final = ctx.settings.model_store / got.sha256
    try:
        os.rename(got.folder, final)
    except OSError:  # the same content arrived twice at once: the first rename won
        got.discard()
    row = auth.StoredModel(sha256=got.sha256, name=got.name, original_name=got.original_name[:500],
                           size_bytes=got.size, path=str(_published(final)), uploaded_by=uploaded_by)
    return await run_in_threadpool(auth.store_model_row, ctx.db, row)


def _published(folder: Path) -> Path:
    (only,) = [p for p in folder.iterdir() if p.is_file()]
    return only


def study_field(got: Received) -> dict:
    """The `study` form field as JSON (an empty study when absent).

    Raises:
        HTTPException: 422 when it is not a JSON object.
    """
    text = got.fields.get("study")
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise HTTPException(422, detail=f"form field 'study' is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise HTTPException(422, detail="form field 'study' must be a JSON object")
    return value


def valid_sha256(value: str) -> bool:
    """Whether `value` looks like a sha256 in hex."""
    return bool(_SHA256.match(value))
