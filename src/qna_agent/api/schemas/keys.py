"""Public JSON shapes of the keys API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qna_agent.api.schemas.examples import examples
from qna_agent.security.models import ApiKey


class KeyCreate(BaseModel):
    """A new key for a principal."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "alice", "role": "user"}]}
    )

    name: str = Field(
        pattern=r"^[A-Za-z0-9._@+-]{1,100}$",
        description="The principal the key acts as; keys with the same name share chats.",
    )
    role: Literal["user", "admin"] = "user"


_EXAMPLE_KEY: dict[str, Any] = {
    "id": "0193a5f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
    "name": "alice",
    "role": "user",
    "prefix": "qna_3f9a",
    "created_at": "2026-11-24T10:15:00Z",
    "revoked_at": None,
    "last_used_at": "2026-11-24T11:02:31Z",
}


class KeyOut(BaseModel):
    """A key as it can be shown after creation: by prefix only."""

    model_config = examples(_EXAMPLE_KEY)

    id: uuid.UUID
    name: str
    role: Literal["user", "admin"]
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyOut:
        """The public view of a key row."""
        return cls(
            id=row.id,
            name=row.name,
            role="admin" if row.role == "admin" else "user",
            prefix=row.prefix,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


class KeyCreated(KeyOut):
    """A new key, with the secret shown this once."""

    model_config = examples({**_EXAMPLE_KEY, "last_used_at": None, "key": "qna_3f9a" + "0" * 56})

    key: str = Field(description="Send as `Authorization: Bearer <key>`. Not shown again.")


class KeyList(BaseModel):
    """Keys, oldest first."""

    model_config = examples({"data": [_EXAMPLE_KEY]})

    data: list[KeyOut]
