"""A real server and a real chunked upload over a socket: without a key the answer is 401 before
the body is sent; with an admin key the upload is refused with 413 soon after its limit, not
after the whole body was read."""

from __future__ import annotations

import select
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeLLM
from tests.support.processes import api_key_env, free_port, server

pytestmark = pytest.mark.slow

ADMIN_KEY = "qna_" + uuid.uuid4().hex + uuid.uuid4().hex
LIMIT = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A server with a bootstrap admin key and a 1 MiB upload limit; its port."""
    tmp_path: Path = tmp_path_factory.mktemp("uploads")
    with FakeLLM() as llm:
        env = api_key_env(
            tmp_path, llm, ADMIN_KEY, KB_MAX_UPLOAD_BYTES=str(LIMIT), LOG_LEVEL="WARNING"
        )
        number = free_port()
        with server(env, number, tmp_path / "server.log"):
            yield number


def stream_upload(port: int, headers: str, *, chunks: int) -> tuple[bytes, int]:
    """Send a chunked multipart upload of up to `chunks` x 64 KiB, stopping as soon as the
    server answers; the answer (read until the server closes) and how many body bytes were
    sent."""
    boundary = "qna-boundary"
    head = (
        f"POST /kb/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.md"\r\n\r\n'
    ).encode()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        for _ in range(chunks):
            if select.select([sock], [], [], 0.005)[0]:  # the server has answered
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK))
            except OSError:  # it answered and closed while we were sending
                break
            sent += CHUNK
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:  # closed with our unread chunks: a reset after the answer
            pass
    return answer, sent


def test_no_key_is_refused_before_the_body(port: int) -> None:
    answer, sent = stream_upload(port, "", chunks=3200)  # 200 MiB
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert b'"code":"unauthorized"' in answer
    assert sent <= 64 * CHUNK  # what sockets buffer before anyone reads


def test_admin_upload_past_the_limit_is_refused_early(port: int) -> None:
    answer, sent = stream_upload(port, f"Authorization: Bearer {ADMIN_KEY}\r\n", chunks=1600)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"payload_too_large"' in answer
    assert sent <= LIMIT + 64 * CHUNK  # not the 100 MiB offered
