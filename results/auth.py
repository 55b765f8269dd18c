"""What the HTTP server keeps besides the queue: API tokens (hashed), idempotency keys of
study submissions, and the models uploaded to it.

A token is `bench_<id>_<secret>`: the id (8 hex digits) names it in `bench token list` and
in logs, the secret is 256 random bits. Only the sha256 of the whole token is stored, so the
database cannot give a token away; a random 256-bit secret needs no salt or slow hash (there
is nothing to brute-force), and the lookup by hash is one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from agents.errors import UserError
from results.models import utcnow

TOKEN_PREFIX = "bench_"


class ApiToken(SQLModel, table=True):
    """A bearer token of the HTTP API: its hash, never the token itself."""

    __tablename__ = "api_token"
    id: str = Field(primary_key=True)
    name: str = Field(index=True)
    token_sha256: str = Field(unique=True)
    read_only: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = None
    last_used_s: Optional[float] = None


class IdempotencyKey(SQLModel, table=True):
    """A study submission's `Idempotency-Key`: the same key (per token) yields the same study."""

    __tablename__ = "idempotency_key"
    token_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    study_id: str
    fingerprint: str
    created_at: datetime = Field(default_factory=utcnow)


class StoredModel(SQLModel, table=True):
    """A model file uploaded to the server, stored by content under the model store."""

    __tablename__ = "stored_model"
    sha256: str = Field(primary_key=True)
    name: str
    original_name: str
    size_bytes: int = Field(sa_type=BigInteger)
    path: str
    uploaded_by: Optional[str] = None
    created_at: datetime = Field(default_factory=utcnow)


@dataclass
class Principal:
    """Who a request comes from: the token's id and name, and whether it may write."""

    token_id: str
    name: str
    read_only: bool


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, name: str, read_only: bool = False) -> tuple[ApiToken, str]:
    """Create a token; the plain token is returned here and never again.

    Raises:
        UserError: an empty name, or a name a live token already has.
    """
    name = name.strip()
    if not name:
        raise UserError("a token needs a name (--name)")
    token_id = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(id=token_id, name=name, token_sha256=token_hash(token), read_only=read_only)
    with Session(engine) as s:
        if s.execute(select(ApiToken.id).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first():
            raise UserError(f"a token named '{name}' exists; revoke it first (bench token revoke {name})")
        s.add(row)
        s.commit()
        s.refresh(row)
        s.expunge(row)
    return row, token


def list_tokens(engine: Engine, include_revoked: bool = False) -> list[ApiToken]:
    """Every token, oldest first (never the token itself)."""
    q = select(ApiToken).order_by(ApiToken.created_at)
    if not include_revoked:
        q = q.where(ApiToken.revoked_at.is_(None))
    with Session(engine) as s:
        rows = list(s.execute(q).scalars())
        s.expunge_all()
    return rows


def revoke_token(engine: Engine, name_or_id: str) -> ApiToken:
    """Revoke the live token with this name or id.

    Raises:
        UserError: no live token has this name or id.
    """
    with Session(engine) as s:
        row = s.execute(select(ApiToken).where(
            (ApiToken.id == name_or_id) | (ApiToken.name == name_or_id),
            ApiToken.revoked_at.is_(None))).scalars().first()
        if row is None:
            names = ", ".join(t.name for t in list_tokens(engine)) or "none"
            raise UserError(f"no live token named '{name_or_id}' (live tokens: {names})")
        row.revoked_at = utcnow()
        s.add(row)
        s.commit()
        s.refresh(row)
        s.expunge(row)
    return row


def verify(engine: Engine, token: str) -> Principal | None:
    """The live token this plain token is, or None (unknown, malformed or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    q = select(ApiToken.id, ApiToken.name, ApiToken.read_only).where(
        ApiToken.token_sha256 == token_hash(token), ApiToken.revoked_at.is_(None))
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return Principal(row.id, row.name, bool(row.read_only)) if row else None


def touch(engine: Engine, token_id: str, now: float | None = None) -> None:
    """Record that a token was used (callers rate-limit this: it is a write)."""
    with engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(
            last_used_s=now if now is not None else time.time()))


def remember_key(engine: Engine, token_id: str, key: str, study_id: str, fingerprint: str) -> None:
    """Record an idempotency key; a concurrent request that recorded it first wins."""
    try:
        with Session(engine) as s:
            s.add(IdempotencyKey(token_id=token_id, key=key, study_id=study_id, fingerprint=fingerprint))
            s.commit()
    except IntegrityError:
        pass


def find_key(engine: Engine, token_id: str, key: str) -> IdempotencyKey | None:
    """The submission already made with this key by this token, if any."""
    with Session(engine) as s:
        row = s.get(IdempotencyKey, (token_id, key))
        if row is not None:
            s.expunge(row)
        return row


def store_model_row(engine: Engine, row: StoredModel) -> StoredModel:
    """Record an uploaded model; the first upload of a content keeps its row."""
    try:
        with Session(engine) as s:
            s.add(row)
            s.commit()
            s.refresh(row)
            s.expunge(row)
        return row
    except IntegrityError:
        found = stored_model(engine, row.sha256)
        assert found is not None
        return found


def stored_model(engine: Engine, sha256: str) -> StoredModel | None:
    """The stored model with this content hash, if any."""
    with Session(engine) as s:
        row = s.get(StoredModel, sha256)
        if row is not None:
            s.expunge(row)
        return row
