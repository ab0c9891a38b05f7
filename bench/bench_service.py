"""Service benchmark: agent turns, streams, history reads and searches under load.

    make bench                                      # the standard set, under ten minutes
    uv run --frozen python bench/bench_service.py --help

Starts, as separate processes: the fake LLM (bench/fake_llm_server.py), a bare FastAPI app
(bench/bare_app.py) as the framework's ceiling, and `qna-agent serve` on SQLite and on
PostgreSQL with one and two workers. The load generator (bench/loadgen.py) runs in this
process. Every cell of the table is the median of `--repeats` runs of `--duration` seconds
after a warm-up; CPU and memory are read from /proc for the service's processes only.

With `--pin` (the default) a one-worker service gets CPU 0 to itself and everything else
(this load generator, the fake LLM, wrk) runs on CPU 1, so "one worker" means one core. A
target written `sqlite:1free:...` ("w1 free" in the table) is one worker left free to use both
cores: its embedding and SQLite threads run beside the event loop, while the load generator
and the fake LLM stay on CPU 1. `sqlite:1prod:...` ("w1 prod-like") is one pinned worker as
deployed: a user API key made through `POST /keys` (looked up in the database on every
request) and INFO logs (one access line per request, the turn's lines). Results go to stdout
as markdown tables and to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from loadgen import RunResult, run_closed_loop
from procs import Server, cpu_seconds, free_port, rss_mib
from questions import question_pool
from scenarios import Baselines, Workload

from qna_agent.agent.prompts import DEFAULT_SYSTEM_PROMPT

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "qna_bench"
LATENCY_TTFT_MS = 100.0  # the "realistic model" runs: 100 ms to first token
LATENCY_TOKENS_PER_S = 1000.0
ADMIN_KEY = "qna_bench-admin-key-0123456789abcdefghijklmnop"


@dataclass
class Row:
    """One cell of the table: the median of repeated runs of one scenario."""

    target: str
    scenario: str
    concurrency: int
    runs: list[RunResult]
    service_cpu: list[float] = field(default_factory=list)  # seconds per run
    model_ms: float = 0.0  # the fake LLM's own time per request, subtracted for overhead

    def median(self, values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    def summary(self) -> dict[str, Any]:
        runs = self.runs
        cpu = [
            (c / r.count * 1000) if r.count else None
            for c, r in zip(self.service_cpu, runs, strict=False)
        ]
        summary: dict[str, Any] = {
            "target": self.target,
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "requests": sum(r.count for r in runs),
            "errors": sum(r.errors for r in runs),
            "first_error": next((r.first_error for r in runs if r.first_error), None),
            "rps": self.median([r.throughput for r in runs]),
            "p50_ms": self.median([r.latency_ms(0.50) for r in runs]),
            "p95_ms": self.median([r.latency_ms(0.95) for r in runs]),
            "p99_ms": self.median([r.latency_ms(0.99) for r in runs]),
            "ttft_p50_ms": self.median([r.ttft_ms(0.50) for r in runs]),
            "ttft_p99_ms": self.median([r.ttft_ms(0.99) for r in runs]),
            "service_cpu_ms": self.median(cpu),
            "client_cpu_ms": self.median(
                [r.client_cpu / r.count * 1000 if r.count else None for r in runs]
            ),
            "model_ms": self.model_ms,
        }
        if self.model_ms and summary["p50_ms"] is not None:
            summary["overhead_p50_ms"] = summary["p50_ms"] - self.model_ms
            summary["overhead_p99_ms"] = summary["p99_ms"] - self.model_ms
        return summary


class Bench:
    """Runs the set and collects the rows."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.questions = question_pool(args.questions)
        self.rows: list[Row] = []
        self.facts: dict[str, Any] = {}
        self.prepared: set[str] = set()  # backends whose database this run has indexed
        self.other_cpus = {1} if args.pin and (os.cpu_count() or 1) > 1 else None
        self.service_cpus = {0} if self.other_cpus else None
        self.llm: Server | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="qna-bench-"))

    # --- helpers ---------------------------------------------------------------------------
    async def measure(
        self,
        target: str,
        scenario: str,
        port: int,
        concurrency: int,
        step: Any,
        service: Server | None,
        model_ms: float = 0.0,
    ) -> Row:
        """Warm up, then `repeats` timed runs; one table row."""
        row = Row(target, scenario, concurrency, [], model_ms=model_ms)
        warmup = self.args.warmup
        await run_closed_loop(
            scenario, "127.0.0.1", port, concurrency=concurrency, duration=warmup, step=step
        )
        for _ in range(self.args.repeats):
            before = cpu_seconds(service.pids) if service else 0.0
            result = await run_closed_loop(
                scenario,
                "127.0.0.1",
                port,
                concurrency=concurrency,
                duration=self.args.duration,
                step=step,
            )
            row.runs.append(result)
            row.service_cpu.append((cpu_seconds(service.pids) - before) if service else 0.0)
        self.rows.append(row)
        self._print_progress(row)
        return row

    def _print_progress(self, row: Row) -> None:
        s = row.summary()
        ttft = f" ttft p50 {s['ttft_p50_ms']:.1f} ms" if s["ttft_p50_ms"] is not None else ""
        print(
            f"  {row.target:<18} {row.scenario:<14} c={row.concurrency:<4} "
            f"{s['rps'] or 0:8.1f}/s  p50 {s['p50_ms'] or 0:7.1f} ms  "
            f"p99 {s['p99_ms'] or 0:7.1f} ms"
            f"{ttft}  errors {s['errors']}",
            file=sys.stderr,
            flush=True,
        )

    async def set_llm_timing(self, ttft_ms: float, tokens_per_s: float) -> float:
        """Change the fake LLM's timing; returns the model's time per turn in ms."""
        from loadgen import Connection

        assert self.llm is not None
        conn = Connection("127.0.0.1", self.llm.port)
        body = json.dumps({"ttft_ms": ttft_ms, "tokens_per_s": tokens_per_s}).encode()
        response = await conn.request("POST", "/control", body)
        await conn.close()
        return float(json.loads(response.body)["model_seconds"]) * 1000

    # --- baselines -------------------------------------------------------------------------
    async def start_llm(self) -> None:
        port = free_port()
        argv = [sys.executable, str(BENCH / "fake_llm_server.py"), "--port", str(port)]
        self.llm = Server("fake-llm", argv, port, dict(os.environ)).start(self.other_cpus)
        await self.llm.wait_ready("/v1/models")

    async def baselines(self) -> None:
        print("baselines", file=sys.stderr)
        port = free_port()
        argv = [
            sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH),
            "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        bare = Server("bare-fastapi", argv, port, dict(os.environ)).start(self.service_cpus)
        await bare.wait_ready("/constant")
        self.facts["wrk_bare_rps"] = self.wrk(port)
        base = Baselines(self.questions, DEFAULT_SYSTEM_PROMPT)
        for concurrency in self.args.concurrency:
            await self.measure("bare FastAPI", "post-body", port, concurrency, base.bare, bare)
        bare.stop()
        assert self.llm is not None
        for concurrency in self.args.concurrency:
            await self.measure("fake LLM alone", "2 calls", self.llm.port, concurrency,
                               base.llm_turn, self.llm)  # fmt: skip

    def wrk(self, port: int) -> float | None:
        """Requests/s of wrk (1 thread, 16 connections) against the bare app, or None."""
        if shutil.which("wrk") is None:
            print("  wrk not installed (apt-get install wrk): skipped", file=sys.stderr)
            return None
        argv = [
            "wrk", "-t1", "-c16", f"-d{max(2, int(self.args.duration * 2))}s",
            "-s", str(BENCH / "wrk_post_message.lua"),
            f"http://127.0.0.1:{port}/chats/01a20b1f-7b22-71d4-8a61-342768d76703/messages",
        ]  # fmt: skip
        cpus = self.other_cpus

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        out = subprocess.run(argv, capture_output=True, text=True, preexec_fn=pin, check=False)
        match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
        if match is None or non2xx:
            print(f"  wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}", file=sys.stderr)
            return None
        rps = float(match.group(1))
        print(f"  bare FastAPI with wrk -t1 -c16: {rps:.0f} requests/s", file=sys.stderr)
        return rps

    # --- the service -----------------------------------------------------------------------
    def service_env(self, backend: str, *, production_like: bool = False) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ENVIRONMENT="development",
            AUTH_MODE="none",
            KNOWLEDGE_DIR=str(ROOT / "examples" / "knowledge"),
            LLM_PROVIDER="openai",
            LLM_BASE_URL=f"http://127.0.0.1:{self.llm.port if self.llm else 0}/v1",
            LLM_MODEL="fake-bench-model",
            LLM_MAX_RETRIES="0",
            LOG_LEVEL="WARNING",
            LOG_FORMAT="json",
            # One anonymous principal sends everything: the per-principal limits would measure
            # the limiter (429s), not the service. They stay on in production.
            RATE_LIMIT_REQUESTS_PER_MINUTE="0",
            RATE_LIMIT_TOKENS_PER_DAY="0",
            MAX_STREAMS_PER_PRINCIPAL="100000",
            MAX_CHATS_PER_PRINCIPAL="100000000",
        )
        if production_like:
            # What a deployment runs: API keys looked up in the database on every request,
            # one JSON access line per request and the turn's INFO lines (to a file).
            env.update(AUTH_MODE="api_key", API_KEYS_FILE=str(self.admin_key_file()),
                       LOG_LEVEL="INFO")  # fmt: skip
        if backend == "sqlite":
            env["DATABASE_URL"] = f"sqlite+aiosqlite:///{self.tmp}/bench.db"
            env.pop("DATABASE_SCHEMA", None)
        else:
            env["DATABASE_URL"] = PG_URL
            env["DATABASE_SCHEMA"] = PG_SCHEMA
        for item in self.args.service_env:
            name, _, value = item.partition("=")
            env[name] = value
        return env

    def admin_key_file(self) -> Path:
        """A bootstrap admin key (only used to make the database key the load sends)."""
        path = self.tmp / "api-keys"
        path.write_text(f"bench-admin:admin:{ADMIN_KEY}\n")
        return path

    async def database_key(self, port: int) -> dict[str, str]:
        """A user key made through the API (stored hashed, looked up on every request)."""
        from loadgen import Connection

        conn = Connection("127.0.0.1", port)
        response = await conn.request(
            "POST", "/keys", b'{"name": "bench-user", "role": "user"}',
            {"Authorization": f"Bearer {ADMIN_KEY}", "Accept": "application/json"},
        )  # fmt: skip
        await conn.close()
        if response.status != 201:
            raise RuntimeError(f"POST /keys answered {response.status}: {response.body[:200]!r}")
        return {"Authorization": f"Bearer {json.loads(response.body)['key']}"}

    async def reset_database(self, backend: str) -> None:
        if backend == "sqlite":
            for path in self.tmp.glob("bench.db*"):
                path.unlink()
            return
        import asyncpg

        conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
            await conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
        finally:
            await conn.close()

    def start_service(
        self, backend: str, workers: int, *, pinned: bool = True, production_like: bool = False
    ) -> Server:
        port = free_port()
        argv = [sys.executable, "-m", "qna_agent", "serve", "--port", str(port),
                "--workers", str(workers)]  # fmt: skip
        name = f"service-{backend}-w{workers}"
        cpus = self.service_cpus if workers == 1 and pinned else None
        env = self.service_env(backend, production_like=production_like)
        return Server(name, argv, port, env).start(cpus)

    async def service(
        self,
        backend: str,
        workers: int,
        scenarios: list[str],
        levels: list[int],
        *,
        pinned: bool = True,
        production_like: bool = False,
    ) -> None:
        # "w1": one worker on one core (CPU 0, everything else on CPU 1); "w1 free": one
        # worker that may use both cores (its embedding and SQLite threads run beside the
        # event loop), sharing them with the load generator and the fake LLM.
        target = f"{backend} w{workers}" + ("" if pinned or workers != 1 else " free")
        target += " prod-like" if production_like else ""
        print(target, file=sys.stderr)
        options = {"pinned": pinned, "production_like": production_like}
        first: float | None = None
        # A variant of a target measured before (prod-like) reuses its indexed database: its
        # first start would only repeat that target's, and the set must fit in ten minutes.
        if not (production_like and backend in self.prepared):
            try:
                await self.reset_database(backend)
            except OSError as exc:  # no PostgreSQL here: say so and go on with the rest
                hint = f"  skipped: {backend} unreachable ({exc}); set BENCH_PG_URL"
                print(hint, file=sys.stderr)
                self.facts[f"{target} skipped"] = str(exc)
                return
            server = self.start_service(backend, workers, **options)
            first = round(await server.wait_ready("/health/ready"), 3)
            server.stop()
            self.prepared.add(backend)
        server = self.start_service(backend, workers, **options)
        ready = await server.wait_ready("/health/ready")
        await asyncio.sleep(0.5)
        facts: dict[str, Any] = {
            "ready_first_start_s": "" if first is None else first,
            "ready_indexed_s": round(ready, 3),
            "rss_at_rest_mib": round(rss_mib(server.pids), 1),
        }
        self.facts[target] = facts
        auth = await self.database_key(server.port) if production_like else None
        work = Workload(self.questions, auth)
        model_ms = self.llm_model_ms()
        try:
            for scenario in scenarios:
                step = getattr(work, scenario)
                model = model_ms if scenario in ("turn", "stream") else 0.0
                for concurrency in levels:
                    await self.measure(
                        target, scenario, server.port, concurrency, step, server, model
                    )
            plain = pinned and not production_like
            if "turn" in scenarios and self.args.latency_runs and workers == 1 and plain:
                slow_ms = await self.set_llm_timing(LATENCY_TTFT_MS, LATENCY_TOKENS_PER_S)
                for scenario in ("turn", "stream"):
                    await self.measure(target, f"{scenario} (LLM {LATENCY_TTFT_MS:g} ms)",
                                       server.port, 8, getattr(work, scenario), server,
                                       slow_ms)  # fmt: skip
                await self.set_llm_timing(0, 0)
            if self.args.soak_turns and workers == 1 and plain and backend in self.args.soak:
                await self.soak(server, work, facts)
        finally:
            facts["log_tail"] = server.log_path.read_text(errors="replace")[-2000:]
            server.stop()

    def llm_model_ms(self) -> float:
        """The fake LLM alone, two calls, at concurrency 1: subtracted as the model's time."""
        for row in self.rows:
            if row.target == "fake LLM alone" and row.concurrency == 1:
                return float(row.summary()["p50_ms"] or 0.0)
        return 0.0

    async def soak(self, server: Server, work: Workload, facts: dict[str, Any]) -> None:
        """Memory after 1,000 turns and after `soak_turns` turns (turns at concurrency 32)."""
        done = 0
        started = time.perf_counter()
        for target in (1000, self.args.soak_turns):
            result = await run_closed_loop(
                "soak", "127.0.0.1", server.port, concurrency=32, duration=3600,
                step=work.turn, max_requests=target - done,
            )  # fmt: skip
            done += result.count + result.errors
            facts[f"rss_after_{target}_turns_mib"] = round(rss_mib(server.pids), 1)
            facts[f"soak_errors_{target}"] = result.errors
        facts["soak_turns"] = done
        facts["soak_seconds"] = round(time.perf_counter() - started, 1)
        rest, warm = facts["rss_at_rest_mib"], facts["rss_after_1000_turns_mib"]
        last = facts[f"rss_after_{self.args.soak_turns}_turns_mib"]
        facts["rss_growth_after_warm_pct"] = round((last - warm) / warm * 100, 1)
        facts["rss_growth_from_rest_pct"] = round((last - rest) / rest * 100, 1)
        print(f"  soak: {facts}", file=sys.stderr)

    # --- the report ------------------------------------------------------------------------
    def report(self) -> str:
        lines = [
            "| target | scenario | conc | req/s | p50 ms | p95 ms | p99 ms | TTFT p50 | TTFT p99 "
            "| overhead p50 | overhead p99 | service CPU ms/req | client CPU ms/req | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]

        def f(value: Any, digits: int = 1) -> str:
            return "" if value is None else f"{value:.{digits}f}"

        for row in self.rows:
            s = row.summary()
            lines.append(
                f"| {s['target']} | {s['scenario']} | {s['concurrency']} | {f(s['rps'])} "
                f"| {f(s['p50_ms'])} | {f(s['p95_ms'])} | {f(s['p99_ms'])} "
                f"| {f(s['ttft_p50_ms'])} | {f(s['ttft_p99_ms'])} "
                f"| {f(s.get('overhead_p50_ms'))} | {f(s.get('overhead_p99_ms'))} "
                f"| {f(s['service_cpu_ms'], 2)} | {f(s['client_cpu_ms'], 2)} | {s['errors']} |"
            )
        lines.append("")
        lines.append(
            "| target | ready (first start, indexing) s | ready (indexed) s | RSS at rest MiB "
            "| RSS after 1,000 turns | RSS after soak | growth after warm-up |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for target, facts in self.facts.items():
            if not isinstance(facts, dict) or "ready_indexed_s" not in facts:
                continue
            soak = facts.get(f"rss_after_{self.args.soak_turns}_turns_mib")
            growth = facts.get("rss_growth_after_warm_pct")
            lines.append(
                f"| {target} | {facts['ready_first_start_s']} | {facts['ready_indexed_s']} "
                f"| {facts['rss_at_rest_mib']} | {facts.get('rss_after_1000_turns_mib', '')} "
                f"| {soak or ''} | {'' if growth is None else f'{growth}%'} |"
            )
        wrk_rps = self.facts.get("wrk_bare_rps")
        lines.append("")
        for target in ("sqlite w1", "sqlite w1 free"):
            best = max(
                (r.summary()["rps"] or 0 for r in self.rows
                 if r.target == target and r.scenario == "turn"),
                default=0.0,
            )  # fmt: skip
            if wrk_rps and best:
                lines.append(
                    f"Bare FastAPI (wrk -t1 -c16): {wrk_rps:.0f} req/s; best non-streaming turn "
                    f"rate ({target}): {best:.1f} turns/s = {best / wrk_rps * 100:.2f}% of it."
                )
        return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


async def run(args: argparse.Namespace) -> None:
    bench = Bench(args)
    started = time.perf_counter()
    bench.facts["machine_before"] = machine()
    print(f"machine: {bench.facts['machine_before']}", file=sys.stderr)
    print(f"questions: {len(bench.questions)} distinct", file=sys.stderr)
    if bench.other_cpus:
        os.sched_setaffinity(0, bench.other_cpus)
    await bench.start_llm()
    try:
        await bench.baselines()
        for spec in args.targets:
            backend, workers, scenarios, *levels = spec.split(":")
            concurrency = [int(c) for c in levels[0].split(",")] if levels else args.concurrency
            # "1free": one worker free to use both cores; "1prod": one worker as deployed
            # (API keys in the database, INFO logs).
            count = int(workers.removesuffix("free").removesuffix("prod"))
            await bench.service(
                backend,
                count,
                scenarios.split(","),
                concurrency,
                pinned=not workers.endswith("free"),
                production_like=workers.endswith("prod"),
            )
    finally:
        if bench.llm is not None:
            bench.llm.stop()
        shutil.rmtree(bench.tmp, ignore_errors=True)
    bench.facts["load_average_after"] = os.getloadavg()
    bench.facts["bench_seconds"] = round(time.perf_counter() - started)
    table = bench.report()
    print(table)
    print(f"\nload average before {bench.facts['machine_before']['load_average']}, "
          f"after {bench.facts['load_average_after']}; "
          f"the whole set took {bench.facts['bench_seconds']} s")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "facts": bench.facts,
                "rows": [r.summary() for r in bench.rows],
                "table": table,
            },
            indent=2,
            default=str,
        )  # fmt: skip
    )


STANDARD_TARGETS = [
    "sqlite:1:turn,stream,history,search",
    "sqlite:1prod:turn,stream:8",
    "sqlite:2:turn,stream:8,32",
    "postgres:1:turn,stream,history,search:1,8,32",
    "postgres:2:turn:8,32",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="qna-agent service benchmark")
    parser.add_argument("--duration", type=float, default=1.5, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before each cell")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument(
        "--targets",
        nargs="+",
        default=STANDARD_TARGETS,
        help="backend:workers:scenarios[:concurrency], e.g. sqlite:1:turn,stream:8,32",
    )
    parser.add_argument("--soak-turns", type=int, default=10_000, help="0: no memory soak")
    parser.add_argument("--soak", nargs="+", default=["sqlite"], help="backends to soak")
    parser.add_argument("--questions", type=int, default=5000, help="distinct questions")
    parser.add_argument("--no-latency-runs", dest="latency_runs", action="store_false")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument(
        "--service-env", nargs="*", default=[], help="extra NAME=value for the service"
    )
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(run(parse_args()))
