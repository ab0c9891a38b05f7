"""Uploaded documents: named under `uploads/`, kept in the database, indexed at once.

An upload never takes the path of a directory document, nor the reverse (store.py refuses
the clash in the writing transaction), so removing a file can never delete an upload.
Uploading the bytes already stored under the name, with the same index settings, changes
nothing: the document keeps its id, so citations to it stay valid.
"""

from __future__ import annotations

import enum
import re
import uuid
from pathlib import PurePosixPath

from sqlalchemy import delete, select

from qna_agent.db.engine import Database
from qna_agent.errors import Conflict, InvalidInput, PayloadTooLarge
from qna_agent.knowledge.index import change_counter, documents
from qna_agent.knowledge.index.store import IndexSettings, parse_in_thread, store_document
from qna_agent.knowledge.ingest.loader import (
    DocumentTooLarge,
    UnreadableDocument,
    file_hash,
    media_type_of,
)
from qna_agent.knowledge.models import SOURCE_UPLOAD, KbDocument

UPLOAD_PREFIX = "uploads/"
MAX_NAME_CHARS = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class UploadOutcome(enum.StrEnum):
    """What an upload did to the index."""

    ADDED = "added"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"


def upload_path(filename: str, *, keep_folders: bool = False) -> str:
    """The document path of an upload: `uploads/<name>`, or `uploads/<folders>/<name>`.

    A client's file name is untrusted: only its last component counts unless `keep_folders`
    (the CLI's relative paths), and then `..`, hidden and empty components are refused.
    """
    parts = [part.strip() for part in filename.replace("\\", "/").split("/")]
    parts = [part for part in parts if part not in ("", ".")]
    if not keep_folders:
        parts = parts[-1:]
    if not parts or any(part.startswith(".") for part in parts):
        raise InvalidInput("the file needs a name that does not start with a dot", field="file")
    name = "/".join(parts)
    if _CONTROL.search(name) or len(name) > MAX_NAME_CHARS:
        raise InvalidInput(
            f"the file name must be at most {MAX_NAME_CHARS} printable characters", field="file"
        )
    if media_type_of(name) is None:
        raise InvalidInput(
            f"unsupported file type {PurePosixPath(name).suffix or '(none)'!r}; "
            "upload .md, .markdown, .txt, .html, .htm or .pdf",
            field="file",
        )
    return UPLOAD_PREFIX + name


async def store_upload(
    database: Database, settings: IndexSettings, path: str, data: bytes
) -> tuple[KbDocument, UploadOutcome]:
    """Parse, embed and store an upload at `path` (from `upload_path`)."""
    limit = settings.limits.max_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"file is larger than {limit} bytes (KB_MAX_UPLOAD_BYTES)")
    async with database.sessions() as session:
        existing = await session.scalar(select(KbDocument).where(KbDocument.path == path))
    if existing is not None and existing.source != SOURCE_UPLOAD:
        raise Conflict(
            f"{path} is a document of KNOWLEDGE_DIR; upload the file under another name",
            path=path,
        )
    if (
        existing is not None
        and existing.content_hash == file_hash(data)
        and existing.index_params == settings.params
    ):
        return existing, UploadOutcome.UNCHANGED
    name = path.removeprefix(UPLOAD_PREFIX)
    try:
        parsed = await parse_in_thread(path, data, settings)
    except DocumentTooLarge as exc:
        raise PayloadTooLarge(f"cannot index {name}: {exc}") from None
    except UnreadableDocument as exc:
        raise InvalidInput(f"cannot index {name}: {exc}", field="file") from None
    document = await store_document(
        database,
        parsed,
        settings,
        source=SOURCE_UPLOAD,
        media_type=media_type_of(path) or "text/plain",
        data=data,
    )
    return document, UploadOutcome.ADDED if existing is None else UploadOutcome.REPLACED


async def delete_upload(database: Database, document_id: uuid.UUID) -> None:
    """Remove an uploaded document; NotFound, or Conflict for a directory document."""
    document = await documents.get(database, document_id)
    if document.source != SOURCE_UPLOAD:
        raise Conflict(f"{document.path} comes from KNOWLEDGE_DIR; remove the file there and sync")
    async with database.write_sessions.begin() as session:
        await change_counter.bump(session)
        await session.execute(
            delete(KbDocument).where(
                KbDocument.id == document_id, KbDocument.source == SOURCE_UPLOAD
            )
        )
