"""Instructions per turn, counted by callgrind: a CPU measure that a busy machine does not move.

`make bench` reports CPU milliseconds per request, which move by 10-20 % between runs of the
same code on a shared 2-core machine. Callgrind counts the instructions the service's process
executes instead: the same code, inputs and environment give the same count whatever else
runs. Each measurement runs the app in process (the ASGI app through httpx, 8 concurrent
clients, SQLite, lexical search only so no embedding model is loaded), with the benchmark's
fake LLM in its own process (not counted), twice: with `--small` and with `--large` turns
after the same warm-up. The difference divided by the difference in turns is the cost of one
turn, start-up and warm-up cancelled out.

    python bench/turn_instructions.py                      # this checkout
    python bench/turn_instructions.py --checkout ../before # another one (its own .venv)
    python bench/turn_instructions.py --scenario stream

Needs valgrind (Debian: `apt-get install valgrind`); each run takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "How long do I have to return an item?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _turns(turns: int, stream: bool) -> None:
    """Serve the app in process and run 8 warm-up turns, then `turns` more."""
    import httpx

    from qna_agent.config import Settings
    from qna_agent.main import create_app

    app = create_app(Settings(_env_file=None))
    async with app.router.lifespan_context(app):
        services = app.state.services
        for _ in range(600):  # the lifespan indexes in the background: wait up to 30 s
            if services.knowledge.loaded:
                break
            await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            chats = [(await client.post("/chats", json={})).json()["id"] for _ in range(8)]

            async def worker(index: int, count: int) -> None:
                suffix = "?stream=true" if stream else ""
                for number in range(count):
                    response = await client.post(
                        f"/chats/{chats[index]}/messages{suffix}",
                        json={"content": f"{QUESTION} ({index}.{number})"},
                    )
                    assert response.status_code in (200, 201), response.text

            await asyncio.gather(*(worker(i, 1) for i in range(8)))
            await asyncio.gather(*(worker(i, turns // 8) for i in range(8)))


def _serve_and_run(turns: int, stream: bool) -> None:
    """The measured process: the fake LLM in a child process, the app in this one."""
    port = _free_port()
    llm = subprocess.Popen(
        [sys.executable, "bench/fake_llm_server.py", "--port", str(port), "--ttft-ms", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        data = tempfile.mkdtemp(prefix="qna-instructions-")
        os.environ.update(
            DATABASE_URL=f"sqlite+aiosqlite:///{data}/qna.db",
            KNOWLEDGE_DIR="examples/knowledge",
            KB_EMBEDDER="none",
            LLM_PROVIDER="openai",
            LLM_BASE_URL=f"http://127.0.0.1:{port}/v1",
            LLM_API_KEY="bench",
            AUTH_MODE="none",
            RATE_LIMIT_REQUESTS_PER_MINUTE="0",
            MAX_MESSAGES_PER_CHAT="100000",
            LOG_LEVEL="WARNING",
            LOG_FORMAT="json",
            ENVIRONMENT="development",
        )
        asyncio.run(_turns(turns, stream))
    finally:
        llm.terminate()


def _count(checkout: Path, turns: int, scenario: str) -> int:
    """Instructions of one measured process under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                str(checkout / ".venv" / "bin" / "python"),
                str(Path(__file__).resolve()),
                "--measured",
                str(turns),
                "--scenario",
                scenario,
            ],
            cwd=checkout,
            # Idle BLAS threads spin, and callgrind counts every thread: one thread, no spin.
            env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"Collected : (\d+)", result.stderr)
        if match is None:
            raise RuntimeError(result.stderr[-2000:])
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--scenario", choices=["turn", "stream"], default="turn")
    parser.add_argument("--small", type=int, default=16, help="turns of the first run")
    parser.add_argument("--large", type=int, default=48, help="turns of the second run")
    parser.add_argument("--measured", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measured is not None:  # the process callgrind runs
        _serve_and_run(args.measured, args.scenario == "stream")
        return
    checkout = args.checkout.resolve()
    small = _count(checkout, args.small, args.scenario)
    large = _count(checkout, args.large, args.scenario)
    per_turn = (large - small) / (args.large - args.small)
    print(
        f"{checkout.name} {args.scenario}: {per_turn / 1e6:.2f} M instructions per turn "
        f"({small:,} for {args.small} turns, {large:,} for {args.large})"
    )


if __name__ == "__main__":
    main()
