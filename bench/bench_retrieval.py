"""Knowledge-base benchmark: chunking quality, ingestion, search latency at scale, memory.

    uv run python bench/bench_retrieval.py                 # everything (about 5 minutes)
    uv run python bench/bench_retrieval.py --only search   # one part: quality|ingest|search|rss
    TEST_DATABASE_URL=postgresql+asyncpg://... uv run python bench/bench_retrieval.py --only search

Search latency is measured at 1k, 10k and 100k chunks of synthetic text with random unit
vectors written straight into the index (embedding 100k real passages takes over an hour on
one core; it is ingestion's cost, measured separately), and it includes embedding the query.
Every figure is a median over repeated runs; p99 is over all queries of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from qna_agent.config import Settings
from qna_agent.container import build_services
from qna_agent.db import migrate
from qna_agent.knowledge.retrieval.evaluation import documents_in_order, load_dataset, score

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "knowledge"
DATASET = ROOT / "examples" / "eval" / "retrieval.jsonl"
QUERIES = [json.loads(line)["question"] for line in DATASET.read_text().splitlines() if line]


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "knowledge_dir": EXAMPLES,
        "log_level": "WARNING",
        "kb_search_cache_size": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def quality(chunk_sizes: list[int]) -> list[dict[str, Any]]:
    """Hybrid retrieval quality of the example set per chunk size."""
    questions = load_dataset(DATASET)
    rows = []
    for size in chunk_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(
                f"sqlite+aiosqlite:///{tmp}/q.db",
                kb_chunk_chars=size,
                kb_chunk_overlap_chars=min(150, size // 5),
            )
            services = build_services(settings)
            await migrate.upgrade(services.database)
            await services.knowledge.open()
            await services.knowledge.sync()
            _, chunks = await services.knowledge.counts()
            rankings: dict[str, list[list[str]]] = {"lexical": [], "dense": [], "hybrid": []}
            for item in questions:
                found = await services.knowledge.search_modes(item.question, 40)
                for mode in rankings:
                    rankings[mode].append(documents_in_order(found[mode]))
            await services.close()
        row: dict[str, Any] = {"chunk_chars": size, "chunks": chunks}
        for mode, ranking in rankings.items():
            scores = score(ranking, questions)
            row[f"{mode}_mrr"] = round(scores.mrr, 3)
            row[f"{mode}_r@1"] = round(scores.recall[1], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


async def ingest() -> dict[str, Any]:
    """Real ingestion throughput (parse, chunk, embed, store) of the examples, repeated."""
    runs = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(f"sqlite+aiosqlite:///{tmp}/i.db")
            services = build_services(settings)
            # A fresh cache per run, so every chunk is embedded.
            if services.knowledge.embeddings is not None:
                services.knowledge.embeddings._lru.clear()
            await migrate.upgrade(services.database)
            started = time.perf_counter()
            await services.knowledge.sync()
            elapsed = time.perf_counter() - started
            _, chunks = await services.knowledge.counts()
            await services.close()
            runs.append(chunks / elapsed)
    result = {"chunks": chunks, "chunks_per_s_median": round(statistics.median(runs), 1)}
    print(json.dumps({"ingest": result}), flush=True)
    return result


_WORDS = sorted(
    set(re.findall(r"[a-z]{3,}", " ".join(p.read_text().lower() for p in EXAMPLES.glob("*.md"))))
)


def synthetic_passage(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(60, 140))) + "."


async def fill(database_url: str, count: int, dim: int, **overrides: Any) -> Any:
    """A knowledge base with `count` synthetic chunks and random unit vectors."""
    services = build_services(settings_for(database_url, **overrides))
    await migrate.upgrade(services.database)
    rng = random.Random(count)
    np_rng = np.random.default_rng(count)
    sqlite = services.database.is_sqlite
    per_document = 100
    async with services.database.write_sessions.begin() as session:
        for start in range(0, count, per_document):
            document_id = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO kb_documents (id, path, title, source, content_hash, size_bytes,"
                    " chunk_count, indexed_at, index_params, media_type) VALUES (:id, :path,"
                    " :title, 'upload', 'x', 0, :n, CURRENT_TIMESTAMP, 'bench', 'text/plain')"
                ),
                {
                    "id": document_id.hex if sqlite else document_id,
                    "path": f"bench/{start}.txt",
                    "title": f"Bench {start}",
                    "n": per_document,
                },
            )
            vectors = np_rng.standard_normal((per_document, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows = [
                {
                    "document_id": document_id.hex if sqlite else document_id,
                    "ordinal": i,
                    "heading": f"Bench {start} > part {i}",
                    "content": synthetic_passage(rng),
                    "embedding": vectors[i].tobytes()
                    if sqlite
                    else "[" + ",".join(f"{v:.6g}" for v in vectors[i]) + "]",
                }
                for i in range(per_document)
            ]
            value = ":embedding" if sqlite else "CAST(CAST(:embedding AS text) AS vector)"
            await session.execute(
                text(
                    "INSERT INTO kb_chunks (document_id, ordinal, heading, content, start_line,"
                    f" end_line, embedding) VALUES (:document_id, :ordinal, :heading, :content,"
                    f" 1, 1, {value})"
                ),
                rows,
            )
    await services.knowledge.open()
    services.knowledge.mark_loaded()
    return services


async def search_latency(sizes: list[int], postgres_url: str | None) -> list[dict[str, Any]]:
    """p50/p99 of a hybrid search (query embedding included) at several index sizes."""
    results = []
    backends = [("sqlite", None)] + ([("postgresql", postgres_url)] if postgres_url else [])
    for backend, url in backends:
        for size in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                schema = f"bench_{size}"
                if url is None:
                    database_url, extra = f"sqlite+aiosqlite:///{tmp}/s.db", {}
                else:
                    await _reset_schema(url, schema)
                    database_url, extra = url, {"database_schema": schema}
                started = time.perf_counter()
                services = await fill(database_url, size, 384, **extra)
                fill_s = time.perf_counter() - started
                knowledge = services.knowledge
                for query in QUERIES[:10]:  # warm up
                    await knowledge.search(query, 5)
                runs: list[float] = []
                samples: list[float] = []
                embed: list[float] = []
                for _ in range(5):
                    times = []
                    for query in QUERIES:
                        t0 = time.perf_counter()
                        await knowledge.search(query, 5)
                        times.append((time.perf_counter() - t0) * 1000)
                        t1 = time.perf_counter()
                        await knowledge.embeddings.embed_query(query)
                        embed.append((time.perf_counter() - t1) * 1000)
                    runs.append(statistics.median(times))
                    samples.extend(times)
                await services.close()
            row = {
                "backend": backend,
                "chunks": size,
                "search_p50_ms": round(statistics.median(runs), 2),
                "search_p99_ms": round(percentile(samples, 0.99), 2),
                "query_embedding_p50_ms": round(statistics.median(embed), 2),
                "fill_s": round(fill_s, 1),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


async def _reset_schema(url: str, schema: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"))
    await engine.dispose()


def rss(chunks: int) -> dict[str, Any]:
    """Resident memory of a real `qna-agent serve` with the model loaded, idle and after load."""
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{tmp}/r.db"
        if chunks:
            services = asyncio.run(fill(database_url, chunks, 384))
            asyncio.run(services.close())
        port = 18000 + os.getpid() % 1000
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KNOWLEDGE_DIR": str(EXAMPLES),
            "LOG_LEVEL": "WARNING",
            "PORT": str(port),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "qna_agent", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            started = time.perf_counter()
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            ready_s = time.perf_counter() - started
            idle = _vmrss(process.pid)
            for query in QUERIES * 3:
                httpx.get(f"http://127.0.0.1:{port}/kb/search", params={"q": query})
            busy = _vmrss(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    row = {
        "chunks_extra": chunks,
        "ready_s": round(ready_s, 2),
        "rss_idle_mib": idle,
        "rss_after_searches_mib": busy,
    }
    print(json.dumps({"rss": row}), flush=True)
    return row


def _vmrss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["quality", "ingest", "search", "rss"])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--chunk-sizes", default="400,600,800,1200,1600")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    postgres = os.environ.get("TEST_DATABASE_URL")
    if args.only in (None, "quality"):
        asyncio.run(quality([int(s) for s in args.chunk_sizes.split(",")]))
    if args.only in (None, "ingest"):
        asyncio.run(ingest())
    if args.only in (None, "search"):
        asyncio.run(search_latency(sizes, postgres))
    if args.only in (None, "rss"):
        rss(0)
        rss(max(sizes))


if __name__ == "__main__":
    main()
