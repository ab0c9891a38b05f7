"""API keys: made, listed, revoked, and checked on every request.

A key is `qna_` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256 is
stored, with the first 12 characters as a visible prefix. A fast hash is right here, unlike for
passwords: 256 random bits cannot be guessed, so bcrypt/argon2's deliberate slowness would buy
nothing but 50-300 ms and a CPU-exhaustion lever on every request, and their per-row salt
would forbid finding the row by its hash. With SHA-256 the lookup is one indexed equality
query, and a stolen table reveals no usable key.

Valid keys are looked up on every request with no cache, so a revocation takes effect on the
next request, on every replica. Only misses are remembered, briefly: a key that matched nothing
cannot start matching (keys are made here, at random, and shown once), so repeating a wrong key
costs a dictionary lookup instead of a database query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database
from qna_agent.errors import Conflict, InvalidInput, NotFound
from qna_agent.security.models import ApiKey

log = structlog.get_logger(__name__)

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
KEY_PREFIX = "qna_"
VISIBLE_CHARS = 12
MIN_FILE_KEY_CHARS = 32
LAST_USED_EVERY_SECONDS = 60.0
MISS_CACHE_SECONDS = 300.0
MISS_CACHE_SIZE = 10_000
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
_BY_HASH = select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.revoked_at).where(
    ApiKey.key_hash == bindparam("digest")
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. Chats belong to the principal that created them."""

    id: str
    role: Role = "user"

    @property
    def is_admin(self) -> bool:
        """Whether the principal may manage the knowledge base and keys."""
        return self.role == "admin"


def generate_key() -> str:
    """A new random key (shown once)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def visible_prefix(key: str) -> str:
    """The part of a key that may be shown later, to tell keys apart."""
    return key[:VISIBLE_CHARS]


def check_name(name: str) -> str:
    """A key's name is its principal id: 1-100 of `A-Za-z0-9._@+-`."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput("name must be 1-100 characters of A-Za-z0-9._@+-", field="name")
    return name


def check_role(role: str) -> Role:
    """`user` or `admin`."""
    for known in ROLES:
        if role == known:
            return known
    raise InvalidInput("role must be 'user' or 'admin'", field="role")


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: the row and the only copy of the secret."""

    row: ApiKey
    key: str


async def create_key(session: AsyncSession, *, name: str, role: str) -> CreatedKey:
    """Store a new key for principal `name` and return it once."""
    key = generate_key()
    row = ApiKey(
        name=check_name(name),
        role=check_role(role),
        prefix=visible_prefix(key),
        key_hash=hash_key(key),
    )
    session.add(row)
    await session.flush()
    return CreatedKey(row, key)


async def list_keys(session: AsyncSession, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    """Keys, oldest first."""
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return (await session.scalars(query)).all()


async def revoke_key(session: AsyncSession, *, key_id_or_prefix: str) -> ApiKey:
    """Revoke a key named by its id or its visible prefix; effective on the next request."""
    try:
        condition = ApiKey.id == uuid.UUID(key_id_or_prefix)
    except ValueError:
        condition = ApiKey.prefix == key_id_or_prefix
    rows = (await session.scalars(select(ApiKey).where(condition))).all()
    if not rows:
        raise NotFound(f"no key {key_id_or_prefix}", resource="api_key")
    if len(rows) > 1:
        raise Conflict(f"{len(rows)} keys start with {key_id_or_prefix}; revoke by id")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return row


def parse_key_file(path: Path) -> dict[str, Principal]:
    """Bootstrap keys from a mounted secret: `name:role:key` per line, `#` comments.

    Returns principals by key hash. Raises ValueError naming the line of a bad entry.
    """
    keys: dict[str, Principal] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"API_KEYS_FILE: cannot read {path}: {exc.strerror}") from exc
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, role, key = (line.split(":", 2) + ["", ""])[:3]
        where = f"API_KEYS_FILE {path} line {number}"
        if not NAME_PATTERN.match(name) or role not in ROLES:
            raise ValueError(f"{where}: expected name:role:key with role user or admin")
        if len(key) < MIN_FILE_KEY_CHARS:
            raise ValueError(f"{where}: the key must be at least {MIN_FILE_KEY_CHARS} characters")
        keys[hash_key(key)] = Principal(name, check_role(role))
    return keys


class KeyStore:
    """Checks presented keys against the database and the bootstrap file."""

    def __init__(self, database: Database, *, key_file: Path | None = None) -> None:
        self._database = database
        self._file_keys = parse_key_file(key_file) if key_file else {}
        self._last_used: dict[uuid.UUID, float] = {}
        self._misses: OrderedDict[str, float] = OrderedDict()  # key hash -> when it missed
        if self._file_keys:
            log.info("bootstrap_keys_loaded", count=len(self._file_keys))

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key, or None."""
        if not key or len(key) > 256:
            return None
        digest = hash_key(key)
        from_file = self._file_keys.get(digest)
        if from_file is not None:
            return from_file
        if self._missed_recently(digest):
            return None
        # Every request with a key asks this: one trip to the database (see db/sqlite_workers.py).
        row = await self._database.read(
            lambda conn: conn.execute(_BY_HASH, {"digest": digest}).first()
        )
        if row is None or row.revoked_at is not None:
            # A revoked key stays revoked, so it is remembered like an unknown one.
            self._remember_miss(digest)
            return None
        await self._touch(row.id)
        return Principal(row.name, check_role(row.role))

    def _missed_recently(self, digest: str) -> bool:
        missed = self._misses.get(digest)
        if missed is None:
            return False
        if time.monotonic() - missed < MISS_CACHE_SECONDS:
            return True
        del self._misses[digest]
        return False

    def _remember_miss(self, digest: str) -> None:
        self._misses.pop(digest, None)
        self._misses[digest] = time.monotonic()
        while len(self._misses) > MISS_CACHE_SIZE:
            self._misses.popitem(last=False)  # the oldest miss

    async def _touch(self, key_id: uuid.UUID) -> None:
        """Record `last_used_at`, at most once a minute per key and process (writes are dear)."""
        now = time.monotonic()
        if now - self._last_used.get(key_id, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
            return
        self._last_used[key_id] = now
        try:
            async with self._database.write_sessions.begin() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow())
                )
        except Exception as exc:  # bookkeeping only: never fail a request over it
            log.warning("key_last_used_not_recorded", error=type(exc).__name__)
