"""Profile the service under load with py-spy (install it yourself: `pip install py-spy`).

    python bench/profile_service.py --scenario turn --seconds 10 --out /tmp/turn
    # -> /tmp/turn.svg (flame graph) and /tmp/turn.txt (top frames by own and total samples)

Only samples holding the GIL are kept (`--gil`): waiting threads (aiosqlite's, the thread
pool's) otherwise look busy to py-spy. Starts the fake LLM and a one-worker service on SQLite
(or `--backend postgres`), drives the scenario at `--concurrency` and samples the service's
process with `py-spy record`.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from pathlib import Path

import uvloop
from bench_service import Bench, parse_args
from loadgen import run_closed_loop
from procs import cpu_seconds
from scenarios import Workload


def summarise(collapsed: Path, top: int = 40) -> str:
    """Own and total sample counts per frame from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    out = [f"{samples} samples", "", "own:"]
    out += [f"{n / samples * 100:6.1f}%  {frame}" for frame, n in own.most_common(top)]
    out += ["", "total:"]
    out += [f"{n / samples * 100:6.1f}%  {frame}" for frame, n in total.most_common(top * 2)]
    return "\n".join(out)


async def profile(options: argparse.Namespace) -> None:
    py_spy = shutil.which("py-spy") or options.py_spy
    bench_args = parse_args_for_bench()
    bench = Bench(bench_args)
    await bench.start_llm()
    await bench.reset_database(options.backend)
    server = bench.start_service(options.backend, 1)
    try:
        await server.wait_ready("/health/ready")
        work = Workload(bench.questions)
        # history needs chats with turns; searches and turns need nothing
        warm = work.turn if options.scenario != "search" else work.search
        await run_closed_loop("warm", "127.0.0.1", server.port, concurrency=options.concurrency,
                              duration=3, step=warm)  # fmt: skip
        assert server.process is not None
        out = Path(options.out)
        recorder = subprocess.Popen(
            [py_spy, "record", "--pid", str(server.process.pid), "--rate", "200",
             "--duration", str(options.seconds), "--format", "raw", "-o", f"{out}.raw", "--gil",
             *(["--native"] if options.native else [])],
        )  # fmt: skip
        before = cpu_seconds(server.pids)
        result = await run_closed_loop(
            "profile", "127.0.0.1", server.port, concurrency=options.concurrency,
            duration=options.seconds, step=getattr(work, options.scenario),
        )  # fmt: skip
        cpu = cpu_seconds(server.pids) - before
        recorder.wait()
        print(
            f"{result.throughput:.1f} req/s, p50 {result.latency_ms(0.5):.1f} ms, "
            f"service CPU {cpu / max(1, result.count) * 1000:.1f} ms/request"
        )
        text = summarise(Path(f"{out}.raw"))
        Path(f"{out}.txt").write_text(text)
        print(text[:6000])
    finally:
        server.stop()
        if bench.llm:
            bench.llm.stop()


def parse_args_for_bench() -> argparse.Namespace:
    saved = sys.argv
    sys.argv = [saved[0]]
    try:
        return parse_args()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="py-spy the service under load")
    scenarios = ["turn", "stream", "history", "search"]
    parser.add_argument("--scenario", default="turn", choices=scenarios)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--out", default="/tmp/qna-profile")
    parser.add_argument("--native", action="store_true", help="include C frames")
    parser.add_argument("--py-spy", default="py-spy", help="path of py-spy")
    uvloop.run(profile(parser.parse_args()))
