"""A real HTTP server on 127.0.0.1 speaking the OpenAI embeddings wire format, for tests of
`KB_EMBEDDER=openai`: deterministic vectors, and an outage at will (`status`, `delay_s`)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WIDTH = 8


@dataclass
class FakeEmbeddingsServer:
    """What the server saw, and how it should misbehave."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    width: int = WIDTH


def fake_vector(text: str, width: int) -> list[float]:
    """A deterministic, deliberately unnormalised vector for a text."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(byte) + 1.0 for byte in digest[:width]]


def make_handler(state: FakeEmbeddingsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": self.path, "auth": self.headers["Authorization"], "body": body}
            )
            time.sleep(state.delay_s)
            payload: dict[str, Any]
            if state.status != 200:
                payload = {"error": {"message": "model overloaded", "type": "server_error"}}
            else:
                items = [
                    {
                        "object": "embedding",
                        "index": index,
                        "embedding": fake_vector(text, state.width),
                    }
                    for index, text in enumerate(body["input"])
                ]
                # Real servers may answer out of order; the index field is what counts.
                payload = {"object": "list", "data": items[::-1], "model": body["model"]}
            encoded = json.dumps(payload).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@contextmanager
def running_embeddings_server() -> Iterator[FakeEmbeddingsServer]:
    """A fake embeddings server for the duration of the block."""
    state = FakeEmbeddingsServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
