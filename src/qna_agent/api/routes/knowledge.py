"""`/kb`: the knowledge base's documents, passages and search (administration)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile as StarletteUploadFile

from qna_agent.api.deps import KnowledgeDep, get_principal, require_admin
from qna_agent.api.problems import API_RESPONSES, Responses, problem
from qna_agent.api.schemas.knowledge import (
    ChunkOut,
    DocumentOut,
    DocumentPage,
    SearchOut,
    SearchResultOut,
)
from qna_agent.api.schemas.types import INT32_MAX, FreeText, control_character_problem
from qna_agent.errors import InvalidInput, NotFound, PayloadTooLarge
from qna_agent.knowledge.service import KnowledgeBase

# Any principal may read (the agent quotes these documents to everyone); only admins may
# upload or delete.
router = APIRouter(
    prefix="/kb",
    tags=["knowledge base"],
    dependencies=[Depends(get_principal)],
    responses=API_RESPONSES,
)
ADMIN_ONLY = [Depends(require_admin)]

NOT_FOUND: Responses = {404: problem("No such document.")}
UPLOAD_READ_CHUNK = 1024 * 1024
UPLOAD_MAX_FIELDS = 16


@router.get("/documents", response_model=DocumentPage)
async def list_documents(
    knowledge: KnowledgeDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    after: Annotated[
        uuid.UUID | None, Query(description="Cursor: `next_cursor` of the previous page.")
    ] = None,
) -> DocumentPage:
    """Indexed documents with their chunk counts and when they were indexed."""
    if after is not None:
        await _require_cursor(knowledge, after)
    documents, has_more = await knowledge.list_documents(limit=limit, after=after)
    data = [DocumentOut.of(document) for document in documents]
    return DocumentPage(
        data=data, has_more=has_more, next_cursor=str(data[-1].id) if has_more else None
    )


async def _require_cursor(knowledge: KnowledgeBase, after: uuid.UUID) -> None:
    """A cursor must be a document: anything else would silently start a page nowhere."""
    try:
        await knowledge.get_document(after)
    except NotFound:
        raise InvalidInput(f"cursor {after} is not a document", field="after") from None


@router.get("/documents/{document_id}", response_model=DocumentOut, responses=NOT_FOUND)
async def get_document(document_id: uuid.UUID, knowledge: KnowledgeDep) -> DocumentOut:
    """One document."""
    return DocumentOut.of(await knowledge.get_document(document_id))


# The body is declared here rather than as a `File` parameter: FastAPI reads and spools a form
# parameter before any dependency runs, so an anonymous client could make the server store
# a whole upload before hearing 401. The route reads the stream itself, after ADMIN_ONLY.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .md, .txt, .html or .pdf document.",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentOut,
    dependencies=ADMIN_ONLY,
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": DocumentOut, "description": "Replaced an upload of the same name."},
        413: problem("File too large."),
        422: problem("Unsupported or unreadable."),
    },
)
async def upload_document(request: Request, knowledge: KnowledgeDep) -> JSONResponse:
    """Upload a document: stored in the database and indexed at once."""
    async with request.form(max_files=1, max_fields=UPLOAD_MAX_FIELDS) as form:
        file = form.get("file")
        if not isinstance(file, StarletteUploadFile):
            raise InvalidInput("send the document as the multipart file field `file`", field="file")
        name = file.filename or ""
        problem = control_character_problem(name, multiline=False)
        if problem is not None:
            raise InvalidInput(f"the file name {problem}", field="file")
        content = await _read_bounded(file, knowledge.max_upload_bytes)
    document, created = await knowledge.upload(name, content)
    return JSONResponse(
        DocumentOut.of(document).model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


async def _read_bounded(file: StarletteUploadFile, limit: int) -> bytes:
    """The file's bytes; PayloadTooLarge past `limit` (the body's limit allows some framing)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(UPLOAD_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"file is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.delete(
    "/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=ADMIN_ONLY,
    responses={
        **NOT_FOUND,
        409: problem("Comes from KNOWLEDGE_DIR."),
    },
)
async def delete_document(document_id: uuid.UUID, knowledge: KnowledgeDep) -> Response:
    """Delete an uploaded document (files of KNOWLEDGE_DIR are removed there)."""
    await knowledge.delete(document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/chunks/{chunk_id}", response_model=ChunkOut, responses=NOT_FOUND)
async def get_chunk(
    chunk_id: Annotated[int, Path(ge=1, le=INT32_MAX)], knowledge: KnowledgeDep
) -> ChunkOut:
    """One passage, as a citation points to it."""
    chunk, document = await knowledge.get_chunk(chunk_id)
    return ChunkOut.of(chunk, document)


@router.get("/search", response_model=SearchOut)
async def search(
    knowledge: KnowledgeDep,
    q: Annotated[FreeText, Query(min_length=1, max_length=1000, description="The query.")],
    top_k: Annotated[int, Query(ge=1, le=50, description="How many passages.")] = 5,
) -> SearchOut:
    """The same hybrid search the agent uses, with both retrievers' scores."""
    hits = await knowledge.search(q, top_k)
    return SearchOut(query=q, results=[SearchResultOut.of(hit) for hit in hits])
