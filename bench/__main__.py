"""``python -m bench --cases N`` (``make bench N=...``): idri's benchmarks, one table.

- lifecycle: N real cases survey→designation vs N cases of each baseline (``bench/plan.py``: a
  bare one and one matching everything the real case asks of Temporal) on the embedded dev
  server; cases per second, worker CPU per case, history events per case; then the worker CPU
  of the real case and the matched baseline measured paired (``bench/paired.py``: both at once,
  each on its own worker process), the precise CPU ratio;
- api and cli: ``python -m idri.api`` beside the worker; the update round trip through it against
  the same update sent straight to Temporal (interleaved, the same run); ``idri status CASE``
  through it, median wall time of 20 runs;
- simulation: ``idri simulate --years 10 --cases 8`` (80 cases over ten years, the real
  workflows on the time-skipping server) against 80 bare baseline cases to designation on a
  time-skipping server of their own (``bench/simulation.py``), seconds and their ratio;
- scale: one evaluation sweep over ``--scale`` designated institutes (10,000 in the issue; the
  default is smaller so ``make bench`` stays within minutes), worker memory.

The last line is ``throughput_ratio=X cpu_ratio=Y events_per_case=Z`` for scripts: the
throughput ratio from the lifecycle's phases, the CPU ratio from the paired rounds. Results and
the machine they were measured on: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client

from bench.common import Row, WorkerProcess, clean_env, dev_server, fmt, machine, say, table

if TYPE_CHECKING:
    from bench.lifecycle import LifecycleResult
    from bench.paired import PairedResult

SECTIONS = ("lifecycle", "cli", "simulation", "scale", "web")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=500, help="lifecycle cases of each kind")
    parser.add_argument(
        "--concurrency", type=int, default=50, help="cases driven at the same time (lifecycle)"
    )
    parser.add_argument(
        "--scale", type=int, default=1000, help="designated institutes in the sweep (issue: 10000)"
    )
    parser.add_argument(
        "--web", type=int, default=10_000, help="cases behind the workbench's pages (issue 21)"
    )
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only these (repeatable)"
    )
    parser.add_argument("--keep", type=Path, help="keep data and logs in this directory")
    args = parser.parse_args(argv)
    if args.cases < 2:
        parser.error("--cases must be at least 2 (two phases of each kind)")
    return args


def spread(ratios: list[float]) -> str:
    """The per-round ratios in a few words: their median and range."""
    if not ratios:
        return "no round"
    ordered = sorted(ratios)
    median = statistics.median(ordered)
    return f"{len(ordered)} rounds: median {median:.2f}, {ordered[0]:.2f}–{ordered[-1]:.2f}"


def lifecycle_rows(result: LifecycleResult) -> list[Row]:
    """The lifecycle's table: each kind's rate and CPU, the ratios against each baseline (the
    matched one is the result), and the history counts behind the mirroring."""
    from bench.lifecycle import BASELINES

    rows = []
    for kind in ("real", *BASELINES):
        total = result.total(kind)
        rows += [
            Row(
                "lifecycle",
                f"{kind} cases/s",
                fmt(result.rate(kind)),
                f"{total.cases} cases, {total.seconds:.1f} s",
            ),
            Row("lifecycle", f"{kind} worker CPU s/case", fmt(result.cpu_per_case(kind), 4), ""),
        ]
    for baseline in BASELINES:
        result_note = "the result" if baseline == "matched" else "what the Web UI's part costs too"
        cpu_note = (
            "one kind at a time: the VM's drift between phases weighs on it, see the paired ratio"
            if baseline == "matched"
            else result_note
        )
        rows += [
            Row(
                "lifecycle",
                f"throughput ratio (vs {baseline})",
                fmt(result.throughput_ratio(baseline)),
                f"target >= 0.9; {result_note}",
            ),
            Row(
                "lifecycle",
                f"CPU ratio (vs {baseline})",
                fmt(result.cpu_ratio(baseline)),
                f"{cpu_note}; {spread(result.round_cpu_ratios(baseline))}",
            ),
        ]
    events = "/".join(str(result.counts[kind]["events"]) for kind in ("real", *BASELINES))
    rows.append(Row("lifecycle", "history events/case", events, "real/matched/bare, both runs"))
    for baseline in BASELINES:
        rows.append(
            Row(
                "lifecycle",
                f"mirrored by {baseline} (real/{baseline})",
                "equal" if result.mirrored_equal(baseline) else "DIFFERENT",
                result.mirrored(baseline),
            )
        )
    tasks = "/".join(str(result.counts[kind]["workflow tasks"]) for kind in ("real", *BASELINES))
    rows.append(Row("lifecycle", "workflow tasks/case", tasks, "real/matched/bare"))
    return rows


async def paired_cpu(
    args: argparse.Namespace, client: Client, address: str, root: Path
) -> PairedResult:
    """The real case and the matched baseline paired (``bench/paired.py``), in rounds sized by
    ``--cases``: 50 cases of each a round at the default concurrency, 5 rounds for 500 cases."""
    from bench.paired import Contender, measure

    return await measure(
        client,
        address,
        root,
        [Contender("real", "real"), Contender("matched", "matched")],
        rounds=max(3, min(10, args.cases // 100)),
        cases=min(args.concurrency, max(10, args.cases // 4)),
        concurrency=args.concurrency,
        progress=say,
    )


def paired_rows(paired: PairedResult) -> list[Row]:
    cases = len(paired.cpu["real"]) * paired.cases_per_round
    return [
        Row(
            "lifecycle",
            f"{kind} worker CPU s/case, paired",
            fmt(paired.cpu_per_case(kind), 4),
            f"{cases} cases of each at once, a worker process each",
        )
        for kind in ("real", "matched")
    ] + [
        Row(
            "lifecycle",
            "**CPU ratio, paired (vs matched)**",
            f"**{fmt(paired.ratio('real'))}**",
            f"target <= 1.4; the result; {paired.spread('real')}",
        )
    ]


async def lifecycle_and_cli(args: argparse.Namespace, root: Path, rows: list[Row]) -> str | None:
    from bench.lifecycle import BASELINES, NOTICE, Lifecycle, same_shape

    sections = set(args.only or SECTIONS)
    real_queue = f"bench-real-{uuid.uuid4().hex[:6]}"
    baseline_queues = {"bare": "bench-bare", "matched": "bench-matched"}
    async with dev_server(root / "server") as server:
        env = clean_env(
            TEMPORAL_ADDRESS=server.address,
            IDRI_DATA_DIR=str(root / "data"),
            IDRI_TASK_QUEUE=real_queue,
            IDRI_NOTICE_PERIOD_OVERRIDE=f"{NOTICE.total_seconds():g}s",
            BENCH_BARE_QUEUE=baseline_queues["bare"],
            BENCH_MATCHED_QUEUE=baseline_queues["matched"],
        )
        worker = WorkerProcess(env, root / "worker.log")
        await worker.start()
        try:
            client = await Client.connect(server.address)
            lifecycle = Lifecycle(
                client,
                worker,
                real_queue=real_queue,
                baseline_queues=baseline_queues,
                registry_url=f"sqlite:///{root / 'data' / 'registry.sqlite3'}",
                notice_seconds=NOTICE.total_seconds(),
                concurrency=args.concurrency,
                progress=say,
            )
            cases = args.cases if "lifecycle" in sections else 2
            result = await lifecycle.run(cases)
            summary = None
            if "lifecycle" in sections:
                rows += lifecycle_rows(result)
                for baseline in BASELINES:
                    if not result.mirrored_equal(baseline):
                        say(
                            f"WARNING: the {baseline} baseline no longer mirrors the real case: "
                            f"{result.mirrored(baseline)}"
                        )
                if not same_shape():
                    say("WARNING: the matched baseline's updates or queries differ from the real")
                paired = await paired_cpu(args, client, server.address, root / "paired")
                rows += paired_rows(paired)
                summary = (
                    f"throughput_ratio={result.throughput_ratio():.2f} "
                    f"cpu_ratio={paired.ratio('real'):.2f} "
                    f"events_per_case={result.counts['real']['events']}"
                )
            if "cli" in sections:
                rows += await api_and_cli(env, root, client)
        finally:
            worker.stop()
    return summary


async def api_and_cli(env: dict[str, str], root: Path, client: Client) -> list[Row]:
    """The API beside the worker: its update round trip against the same update sent straight
    to Temporal, and ``idri status`` as an operator runs it (through the API)."""
    from bench.api_latency import ApiProcess, round_trip, sample_case
    from bench.cli_latency import measure

    api = ApiProcess(env, root / "data", root / "api.log")
    await api.start()
    try:
        trip = await round_trip(api, client)
        case_id = await sample_case(api)
        cli_env = {**env, "IDRI_API_URL": api.url, "IDRI_TOKEN": api.admin_token}
        cli = await asyncio.to_thread(measure, case_id, cli_env)
    finally:
        api.stop()
    api_ms, direct_ms = (1000 * statistics.median(t) for t in (trip.api, trip.direct))
    return [
        Row(
            "api",
            "update round trip, API / straight to Temporal",
            fmt(trip.ratio, 2),
            f"median {api_ms:.1f} ms vs {direct_ms:.1f} ms, {len(trip.api)} interleaved updates",
        ),
        Row(
            "cli",
            "`idri status CASE` median s",
            fmt(cli.median, 3),
            f"20 runs through the API, min {min(cli.runs):.3f}, max {max(cli.runs):.3f}; "
            "target < 0.3",
        ),
    ]


async def scale(args: argparse.Namespace, root: Path, rows: list[Row]) -> None:
    from bench.scale import run_scale

    queue = f"bench-scale-{uuid.uuid4().hex[:6]}"
    data = root / "scale-data"
    async with dev_server(root / "scale-server") as server:
        env = clean_env(
            TEMPORAL_ADDRESS=server.address,
            IDRI_DATA_DIR=str(data),
            IDRI_TASK_QUEUE=queue,
            BENCH_BARE_QUEUE="bench-scale-bare",
            BENCH_MATCHED_QUEUE="bench-scale-matched",
        )
        worker = WorkerProcess(env, root / "scale-worker.log")
        await worker.start()
        try:
            client = await Client.connect(server.address)
            result = await run_scale(
                client,
                worker,
                institutes=args.scale,
                registry_url=f"sqlite:///{data / 'registry.sqlite3'}",
                task_queue=queue,
                progress=say,
            )
        finally:
            worker.stop()
    totals = result.result.totals
    rows += [
        Row(
            "scale",
            "designated institutes",
            str(result.institutes),
            f"set up in {result.setup_seconds:.0f} s",
        ),
        Row(
            "scale",
            "sweep wall time s",
            fmt(result.sweep_seconds, 1),
            f"opened {totals.opened}, refused {totals.refused}, missing {totals.missing}, "
            f"{totals.pages} pages; at 10,000: about 200 s before issue 17, no slower",
        ),
        Row("scale", "evaluations opened/s", fmt(result.opened_per_second, 1), ""),
        Row(
            "scale",
            "worker RSS MiB, all open",
            fmt(result.rss_before_mb, 0),
            f"after the sweep {result.rss_after_mb:.0f}, peak {result.peak_mb:.0f}",
        ),
    ]
    if totals.opened != result.institutes:
        say(f"WARNING: the sweep opened {totals.opened} of {result.institutes} evaluations")


async def simulation(rows: list[Row]) -> None:
    from bench.simulation import run_simulation_bench

    say("simulation: 80 bare cases, then idri simulate --years 10 --cases 8")
    result = await run_simulation_bench(years=10, cases_a_year=8)
    rows += [
        Row(
            "simulation",
            f"{result.years} years, {result.cases} cases, wall s",
            fmt(result.simulation_seconds, 1),
            "target < 10 s (issue 22)",
        ),
        Row(
            "simulation",
            f"bare baseline, {result.cases} cases to designation, s",
            fmt(result.baseline_seconds, 1),
            "the same count on a time-skipping server of its own",
        ),
        Row("simulation", "ratio (simulation / bare)", fmt(result.ratio), ""),
    ]


async def web(args: argparse.Namespace, root: Path, rows: list[Row]) -> None:
    """The workbench's pages with ``--web`` institutes in the registry."""
    from bench.api_latency import ApiProcess
    from bench.web import run_web

    queue = f"bench-web-{uuid.uuid4().hex[:6]}"
    data = root / "web-data"
    async with dev_server(root / "web-server") as server:
        env = clean_env(
            TEMPORAL_ADDRESS=server.address,
            IDRI_DATA_DIR=str(data),
            IDRI_TASK_QUEUE=queue,
            BENCH_BARE_QUEUE="bench-web-bare",
            BENCH_MATCHED_QUEUE="bench-web-matched",
        )
        worker = WorkerProcess(env, root / "web-worker.log")
        await worker.start()
        api = ApiProcess(env, data, root / "web-api.log")
        try:
            await api.start()
            client = await Client.connect(server.address)
            result = await run_web(
                client,
                worker,
                api,
                institutes=args.web,
                registry_url=f"sqlite:///{data / 'registry.sqlite3'}",
                task_queue=queue,
                progress=say,
            )
        finally:
            api.stop()
            worker.stop()
    for key in sorted(result.seconds):
        page, who = key.split(", ")
        runs = result.seconds[key]
        served = f"{result.server_ms(key):.1f}" if result.server.get(key) else "n/a"
        rows.append(
            Row(
                "web",
                f"{'我的待办 /work' if page == 'work' else 'case page'} ({who}) median ms",
                served,
                f"server time (Server-Timing); client {result.median_ms(key):.1f} ms; "
                f"{result.institutes} cases, {result.waits} waits; {len(runs)} requests, max "
                f"{1000 * max(runs):.0f} ms; target < 200",
            )
        )
    for name, runs in result.parts.items():
        rows.append(
            Row(
                "web",
                f"case page part: {name}, median ms",
                fmt(1000 * statistics.median(runs), 1),
                f"alone, {len(runs)} calls, max {1000 * max(runs):.0f} ms",
            )
        )


async def main(args: argparse.Namespace) -> int:
    sections = set(args.only or SECTIONS)
    rows: list[Row] = []
    say(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="idri-bench-") as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        summary = None
        if sections & {"lifecycle", "cli"}:
            summary = await lifecycle_and_cli(args, root, rows)
        if "simulation" in sections:
            await simulation(rows)
        if "scale" in sections:
            await scale(args, root, rows)
        if "web" in sections:
            await web(args, root, rows)
    print(f"machine: {machine()}")
    print(table(rows))
    if summary:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
