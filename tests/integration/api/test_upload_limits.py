"""Uploads are authenticated before their body is read, and a streamed (chunked) body is cut
off as soon as it passes the limit: the test counts how much of the body the app pulled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from qna_agent.config import Settings
from tests.support.app import anonymous_client, client_for, create_key, running_app

CHUNK = 64 * 1024
BOUNDARY = "qna-test-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


class Upload:
    """A multipart upload of `chunks` x 64 KiB streamed without a length, counting the chunks
    the server asked for."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def body(self) -> AsyncIterator[bytes]:
        """The body, one chunk at a time."""
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.md"\r\n'
            "Content-Type: text/markdown\r\n\r\n"
        ).encode()
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * CHUNK
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_uploads_are_authenticated_before_the_body_is_read(settings: Settings) -> None:
    async with running_app(settings) as (app, services):
        user_key = await create_key(services, "bob")
        async with anonymous_client(app) as nobody, client_for(app, key=user_key) as user:
            for client, status in [(nobody, 401), (user, 403)]:
                upload = Upload(chunks=3200)  # 200 MiB if it were read
                response = await client.post(
                    "/kb/documents", content=upload.body(), headers=MULTIPART
                )
                assert response.status_code == status, response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.headers["connection"] == "close"  # the client may stop sending
                assert upload.pulled == 0


async def test_a_streamed_upload_stops_at_the_limit(settings: Settings) -> None:
    limited = settings.model_copy(update={"kb_max_upload_bytes": 1024 * 1024})
    async with running_app(limited) as (app, _), client_for(app) as admin:
        upload = Upload(chunks=1600)  # 100 MiB
        response = await admin.post("/kb/documents", content=upload.body(), headers=MULTIPART)
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
        assert response.json()["title"] == "Content Too Large"
        # The limit is the file's 1 MiB plus 64 KiB of framing: 17 chunks, and one more to
        # notice.
        assert upload.pulled <= 18
        assert (await admin.get("/kb/documents", params={"limit": 200})).status_code == 200

        small = Upload(chunks=2)  # within the limit: stored as usual
        stored = await admin.post("/kb/documents", content=small.body(), headers=MULTIPART)
        assert stored.status_code == 201, stored.text
        assert stored.json()["path"] == "uploads/big.md"
        # Connections are closed only when a body is left unread, not after every request.
        assert "connection" not in stored.headers
        assert "connection" not in (await admin.get("/kb/documents")).headers


async def test_an_upload_needs_a_file_with_a_clean_name(client: httpx.AsyncClient) -> None:
    missing = await client.post("/kb/documents", data={"nofile": "x"})
    assert missing.status_code == 422, missing.text
    assert missing.json()["errors"][0]["field"] == "file"
    for name in [b"bad\x00name.md", b"two\nlines.md", b"bell\x07.md"]:
        # Written by hand: HTTP clients percent-encode control characters in file names.
        body = (
            b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n\r\n'
            b"# Hours\n\nOpen every day.\r\n--%s--\r\n"
            % (BOUNDARY.encode(), name, BOUNDARY.encode())
        )
        response = await client.post("/kb/documents", content=body, headers=MULTIPART)
        assert response.status_code == 422, (name, response.text)
        problem = response.json()
        assert problem["errors"][0]["field"] == "file"
        assert "control characters" in problem["detail"]
    names = {d["path"] for d in (await client.get("/kb/documents")).json()["data"]}
    assert not any(name.startswith("uploads/") for name in names)
