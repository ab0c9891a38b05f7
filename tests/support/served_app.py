"""The app served by a real uvicorn server in a thread, for clients that need real HTTP:
streaming clients that disconnect, and the official `openai` SDK."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from qna_agent.agent.models.protocol import ChatModel
from qna_agent.config import Settings
from qna_agent.container import Services, build_services
from qna_agent.main import create_app


@contextmanager
def served_app(
    settings: Settings, *, model: ChatModel | None = None
) -> Iterator[tuple[str, Services]]:
    """Serve the app on a free loopback port until ready; yields its base URL and services."""
    services = build_services(settings, model=model)
    app = create_app(services=services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError("the served app did not become ready")
            time.sleep(0.05)
        yield base_url, services
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
