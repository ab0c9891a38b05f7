"""Measure the packaged embedding models to choose the default one.

Each candidate runs in its own fresh interpreter (so memory readings do not
add up) several times; the report gives the median over runs of: load time,
RSS after load and after the queries, single short query latency p50/p99,
throughput and peak RSS on 256-token chunks at the default batching and at
32 rows per call, and dense-only retrieval quality on bench/retrieval_pairs.json.
It also times the brute-force similarity scan over 100k vectors that a query
embedding is added to.

    python bench/bench_embedding.py                      # all candidates, 3 runs
    python bench/bench_embedding.py --runs 1 --kinds onnx-minilm-l6-int8

A candidate is an embedder kind, optionally with `:max_tokens` appended.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PAIRS_FILE = Path(__file__).with_name("retrieval_pairs.json")
DEFAULT_CANDIDATES = (
    "onnx-minilm-l6-qint8",
    "onnx-minilm-l6-int8",
    "onnx-paraphrase-minilm-l3",
    "onnx-paraphrase-minilm-l3:256",
)
SHORT_QUERY = "how do I reset my password"
INDEX_ROWS = 100_000
INDEX_DIM = 384


def proc_status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def percentile_ms(samples_ns: list[int], fraction: float) -> float:
    ordered = sorted(samples_ns)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


def long_chunks(passages: list[str], count: int) -> list[str]:
    """`count` texts of well over 256 tokens, made by joining shuffled passages."""
    rng = np.random.default_rng(7)
    return [" ".join(rng.permutation(passages)[:12]) for _ in range(count)]


def retrieval_quality(embedder: Any) -> dict[str, float]:
    """Recall@1, recall@5 and MRR of ranking every passage by cosine to each query."""
    data = json.loads(PAIRS_FILE.read_text())
    queries = [pair["query"] for pair in data["pairs"]]
    corpus = [pair["passage"] for pair in data["pairs"]] + data["distractors"]
    scores = embedder.embed(queries) @ embedder.embed(corpus).T
    # rank of the right passage (index i for query i): how many score strictly higher
    ranks = (scores > scores[np.arange(len(queries)), np.arange(len(queries))][:, None]).sum(1)
    return {
        "recall_at_1": float((ranks == 0).mean()),
        "recall_at_5": float((ranks < 5).mean()),
        "mrr": float((1.0 / (ranks + 1)).mean()),
        "pairs": len(queries),
        "corpus": len(corpus),
    }


def measure_one(candidate: str, repeats: int, batches: int) -> dict[str, Any]:
    """Load one candidate in this process and measure it."""
    from qna_agent.knowledge.embeddings.embedder import build_embedder

    kind, _, max_tokens = candidate.partition(":")
    options: dict[str, Any] = {"intra_op_threads": 1, "batch_size": 32}
    if max_tokens:
        options["max_tokens"] = int(max_tokens)
    rss_before = proc_status_mib("VmRSS")
    started = time.perf_counter()
    # The derived model is made before this run (the parent warms the cache): load time is
    # that of a server that starts with it already made.
    embedder = build_embedder(kind, **options)
    load_s = time.perf_counter() - started
    rss_loaded = proc_status_mib("VmRSS")

    for _ in range(20):
        embedder.embed([SHORT_QUERY])
    samples = []
    for _ in range(repeats):
        started_ns = time.perf_counter_ns()
        embedder.embed([SHORT_QUERY])
        samples.append(time.perf_counter_ns() - started_ns)

    rss_queries = proc_status_mib("VmRSS")
    quality = retrieval_quality(embedder)
    data = json.loads(PAIRS_FILE.read_text())
    chunks = long_chunks([pair["passage"] for pair in data["pairs"]], 32 * batches)
    default_rate = chunks_per_second(embedder, chunks)
    rss_peak_default = proc_status_mib("VmHWM")
    # The brief's fixed setting: 32 rows of 256 tokens per onnxruntime call.
    embedder.max_batch_tokens = 32 * embedder.max_tokens
    batch32_rate = chunks_per_second(embedder, chunks)

    return {
        "candidate": candidate,
        "name": embedder.name,
        "dim": embedder.dim,
        "load_s": load_s,
        "rss_imports_mib": rss_before,
        "rss_loaded_mib": rss_loaded,
        "rss_after_queries_mib": rss_queries,
        "rss_peak_default_mib": rss_peak_default,
        "rss_peak_batch32_mib": proc_status_mib("VmHWM"),
        "query_p50_ms": percentile_ms(samples, 0.50),
        "query_p99_ms": percentile_ms(samples, 0.99),
        "chunk_tokens": embedder.count_tokens(chunks[0]),
        "chunks_per_s_default": default_rate,
        "chunks_per_s_batch32": batch32_rate,
        **quality,
    }


def chunks_per_second(embedder: Any, chunks: list[str]) -> float:
    embedder.embed(chunks[:32])
    started = time.perf_counter()
    embedder.embed(chunks)
    return len(chunks) / (time.perf_counter() - started)


def scan_p50_ms(repeats: int = 50) -> float:
    """p50 of one query against a 100k x 384 float32 matrix (run with OMP_NUM_THREADS=1)."""
    rng = np.random.default_rng(1)
    index = rng.standard_normal((INDEX_ROWS, INDEX_DIM), dtype=np.float32)
    query = rng.standard_normal(INDEX_DIM, dtype=np.float32)
    samples = []
    for _ in range(repeats):
        started_ns = time.perf_counter_ns()
        scores = index @ query
        np.argpartition(scores, -10)[-10:]
        samples.append(time.perf_counter_ns() - started_ns)
    return percentile_ms(samples, 0.5)


def run_child(candidate: str, repeats: int, batches: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, __file__, "--child", candidate,
        "--repeats", str(repeats), "--batches", str(batches),
    ]  # fmt: skip
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            row[key] = statistics.median(run[key] for run in runs)
    return row


def render(rows: list[dict[str, Any]], runs: int, scan_ms: float) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    lines = [
        f"date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}",
        f"median of {runs} runs, each in a fresh process, intra_op_threads=1; "
        "default batching = at most 32 rows and 1024 padded tokens per call",
        "",
        "| candidate | load s | RSS imports MiB | RSS loaded MiB | RSS after queries MiB "
        "| query p50 ms | query p99 ms "
        "| chunk tokens | chunks/s default | peak RSS default MiB | chunks/s batch 32 "
        "| peak RSS batch 32 MiB | R@1 | R@5 | MRR |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['candidate']} | {row['load_s']:.2f} | {row['rss_imports_mib']:.0f} "
            f"| {row['rss_loaded_mib']:.0f} | {row['rss_after_queries_mib']:.0f} "
            f"| {row['query_p50_ms']:.2f} "
            f"| {row['query_p99_ms']:.2f} | {row['chunk_tokens']} "
            f"| {row['chunks_per_s_default']:.1f} | {row['rss_peak_default_mib']:.0f} "
            f"| {row['chunks_per_s_batch32']:.1f} | {row['rss_peak_batch32_mib']:.0f} "
            f"| {row['recall_at_1']:.3f} | {row['recall_at_5']:.3f} | {row['mrr']:.3f} |"
        )
    lines += [
        "",
        f"retrieval set: {rows[0]['pairs']} queries over {rows[0]['corpus']} passages",
        f"brute-force scan of {INDEX_ROWS} x {INDEX_DIM} float32 + top-10: p50 {scan_ms:.2f} ms",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_CANDIDATES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=300, help="single-query timings per run")
    parser.add_argument("--batches", type=int, default=4, help="batches of 32 chunks per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "scan":
        sys.stdout.write(json.dumps({"scan_p50_ms": scan_p50_ms()}) + "\n")
        return
    if args.child:
        result = measure_one(args.child, args.repeats, args.batches)
        sys.stdout.write(json.dumps(result) + "\n")
        return
    from qna_agent.knowledge.embeddings.derived_model import derived_model_path
    from qna_agent.knowledge.embeddings.embedder import DERIVED_KINDS

    for kind in args.kinds:  # made once, before any timed load
        if kind.partition(":")[0] in DERIVED_KINDS:
            derived_model_path(DERIVED_KINDS[kind.partition(":")[0]], None)
    rows = [
        median_row([run_child(kind, args.repeats, args.batches) for _ in range(args.runs)])
        for kind in args.kinds
    ]
    scan_ms = run_child("scan", args.repeats, args.batches)["scan_p50_ms"]
    sys.stdout.write(render(rows, args.runs, scan_ms))


if __name__ == "__main__":
    main()
