"""Worker CPU, paired: the real case and the matched baseline at the same time, each on a worker
process of its own. ``python -m bench.paired``; ``make bench`` runs it after the lifecycle's
phases, and its ratio is the benchmark's CPU result.

The lifecycle (``bench/lifecycle.py``) runs one kind at a time, in alternating phases. This VM's
speed drifts between phases (the same kind's CPU per case moves by a fifth from one phase to
the next), so one run's CPU ratio moved by ±0.07 from run to run of the same code: more than
the margin it is measured against. Here every round drives all contenders together on one dev
server, so whatever slows the machine slows them alike, and a round's ratio moves by about
±0.02. Each contender is a ``bench.worker`` process serving only its own kind's queue (the others
it polls are unused), so each one's CPU is read from its own ``/proc``; a real contender has its
own registry, mail and pages.

``--against DIR`` adds the real case of another checkout (a ``git worktree`` of an earlier
commit, with the same virtual environment): a change is then measured against the code it
changes, in the same rounds, to about a hundredth of the ratio. ``--postgres URL`` adds the real
case with its registry on PostgreSQL, as in production: its worker's CPU, and that with the
server's (a SQLite registry spends its CPU in the worker, a PostgreSQL one mostly in the server).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url
from temporalio.client import Client

from activities.db import normalize_url
from bench.common import ROOT, WorkerProcess, clean_env, cpu_seconds, dev_server, say
from bench.lifecycle import NOTICE, Lifecycle

KINDS = ("real", "matched", "bare")


@dataclass(frozen=True)
class Contender:
    """One worker process and the cases it serves."""

    name: str
    kind: str
    """``real``, ``matched`` or ``bare``: the workflow its cases run."""
    root: Path = ROOT
    """The checkout its worker runs."""
    postgres: str | None = None
    """A PostgreSQL server (its URL, naming any database there) on which the worker's registry
    gets a database of its own; None: a SQLite file in its data directory, as ``idri up`` has."""


@dataclass
class PairedResult:
    """CPU seconds per case of every contender, round by round."""

    cases_per_round: int
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def cpu_per_case(self, name: str) -> float:
        return statistics.fmean(self.cpu[name])

    def ratio(self, name: str, baseline: str = "matched") -> float:
        """CPU per case of ``name`` over ``baseline``'s, over all rounds."""
        return sum(self.cpu[name]) / sum(self.cpu[baseline])

    def round_ratios(self, name: str, baseline: str = "matched") -> list[float]:
        return [a / b for a, b in zip(self.cpu[name], self.cpu[baseline], strict=True)]

    def spread(self, name: str, baseline: str = "matched") -> str:
        """The rounds' ratios in a few words: their count, mean and standard deviation."""
        ratios = self.round_ratios(name, baseline)
        deviation = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
        return f"{len(ratios)} rounds: mean {statistics.fmean(ratios):.3f}, sd {deviation:.3f}"


class Paired:
    """Worker processes, one per contender, on one dev server, driven in rounds together."""

    def __init__(
        self,
        client: Client,
        address: str,
        root: Path,
        contenders: list[Contender],
        *,
        concurrency: int,
        progress: Callable[[str], None],
    ) -> None:
        self.client = client
        self.address = address
        self.root = root
        self.contenders = contenders
        self.concurrency = concurrency
        self.progress = progress
        self.workers: dict[str, WorkerProcess] = {}
        self.drivers: dict[str, Lifecycle] = {}
        self.started = 0
        self.databases: list[tuple[URL, str]] = []
        """(server, database) of every scratch registry database, to drop at the end."""

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for contender in self.contenders:
            queue = f"paired-{contender.name}-{uuid.uuid4().hex[:6]}"
            # Every queue a bench worker polls is named: its own kind's gets the cases, the
            # others are unused (an older checkout's worker serves every kind).
            queues = {
                kind: queue if kind == contender.kind else f"{queue}-{kind}" for kind in KINDS
            }
            registry_url = f"sqlite:///{self.root / contender.name / 'registry.sqlite3'}"
            if contender.postgres:
                registry_url = self.scratch_database(contender.postgres, contender.name)
            env = clean_env(
                IDRI_DATABASE_URL=registry_url,
                TEMPORAL_ADDRESS=self.address,
                IDRI_DATA_DIR=str(self.root / contender.name),
                IDRI_TASK_QUEUE=queues["real"],
                IDRI_NOTICE_PERIOD_OVERRIDE=f"{NOTICE.total_seconds():g}s",
                BENCH_BARE_QUEUE=queues["bare"],
                BENCH_MATCHED_QUEUE=queues["matched"],
                PYTHONPATH=str(contender.root),
            )
            worker = WorkerProcess(env, self.root / f"{contender.name}.log", contender.root)
            await worker.start()
            self.workers[contender.name] = worker
            self.drivers[contender.name] = Lifecycle(
                self.client,
                worker,
                real_queue=queues["real"],
                baseline_queues={"bare": queues["bare"], "matched": queues["matched"]},
                registry_url=registry_url,
                notice_seconds=NOTICE.total_seconds(),
                concurrency=self.concurrency,
                progress=self.progress,
            )

    def scratch_database(self, server: str, name: str) -> str:
        """A new database on the PostgreSQL ``server`` for one contender's registry (dropped
        by :meth:`stop`); its URL."""
        url = make_url(normalize_url(server))
        database = f"idri_paired_{name}_{uuid.uuid4().hex[:6]}"
        _administer(url, f'CREATE DATABASE "{database}"')
        self.databases.append((url, database))
        return url.set(database=database).render_as_string(hide_password=False)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for server, database in self.databases:
            _administer(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    async def run(self, rounds: int, cases: int) -> PairedResult:
        """A round of warm-up (imports, caches, the registry's first rows), then ``rounds``
        measured rounds of ``cases`` cases per contender."""
        await self.round(min(cases, 20))
        result = PairedResult(cases)
        for number in range(rounds):
            cpu = await self.round(cases)
            for name in cpu:
                result.cpu.setdefault(name, []).append(cpu[name])
            self.progress(
                f"paired round {number + 1}: "
                + "  ".join(f"{name} {cpu[name] * 1000:.1f} ms/case" for name in cpu)
            )
        return result

    async def round(self, cases: int) -> dict[str, float]:
        """Every contender's ``cases`` at once; each one's CPU seconds per case, and for a
        contender on PostgreSQL also its worker's and the server's together (``<name> +
        PostgreSQL``: every PostgreSQL process of the machine, so nothing else may use it)."""
        on_postgres = [contender.name for contender in self.contenders if contender.postgres]
        assert len(on_postgres) <= 1, "the server's CPU is one contender's"
        server_before = postgres_cpu_seconds() if on_postgres else 0.0
        before = {name: worker.cpu_seconds() for name, worker in self.workers.items()}

        async def contender_round(contender: Contender) -> None:
            driver = self.drivers[contender.name]
            numbers = range(self.started, self.started + cases)
            self.started += cases
            await driver.drive_to_designation(contender.kind, numbers)
            if contender.kind == "real":
                await driver.outbox_drained()  # its mail and pages are its cases' work

        await asyncio.gather(*(contender_round(c) for c in self.contenders))
        for worker in self.workers.values():
            await worker.wait_idle()
        cpu = {
            name: (worker.cpu_seconds() - before[name]) / cases
            for name, worker in self.workers.items()
        }
        for name in on_postgres:
            server = (postgres_cpu_seconds() - server_before) / cases
            cpu[f"{name} + PostgreSQL"] = cpu[name] + server
        return cpu


def _administer(server: URL, statement: str) -> None:
    """Run ``statement`` (outside a transaction, as CREATE and DROP DATABASE must be) on the
    PostgreSQL server of ``server``."""
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process of this machine (its backends, the WAL writer,
    the checkpointer...): a registry on PostgreSQL spends its CPU there, not in the worker."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return total


async def measure(
    client: Client,
    address: str,
    root: Path,
    contenders: list[Contender],
    *,
    rounds: int,
    cases: int,
    concurrency: int,
    progress: Callable[[str], None],
) -> PairedResult:
    paired = Paired(client, address, root, contenders, concurrency=concurrency, progress=progress)
    try:
        await paired.start()
        return await paired.run(rounds, cases)
    finally:
        paired.stop()


async def main(args: argparse.Namespace) -> None:
    contenders = [Contender("real", "real")]
    for number, checkout in enumerate(args.against, start=1):
        contenders.append(Contender(f"against{number}", "real", checkout.resolve()))
    if args.postgres:
        contenders.append(Contender("real-postgres", "real", postgres=args.postgres))
    contenders.append(Contender("matched", "matched"))
    with tempfile.TemporaryDirectory(prefix="idri-paired-") as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        async with dev_server(root / "server") as server:
            client = await Client.connect(server.address)
            result = await measure(
                client,
                server.address,
                root,
                contenders,
                rounds=args.rounds,
                cases=args.cases,
                concurrency=args.concurrency,
                progress=say,
            )
    for name in result.cpu:
        if name == "matched":
            continue
        where = next((f" ({c.root})" for c in contenders if c.name == name), "")
        print(
            f"{name}{where}: {result.cpu_per_case(name) * 1000:.1f} ms/case, vs matched "
            f"{result.ratio(name):.3f} ({result.spread(name)})"
        )
        if name.startswith("against"):
            print(
                f"  real vs {name}: {result.ratio('real', name):.3f} "
                f"({result.spread('real', name)})"
            )
    print(f"paired_cpu_ratio={result.ratio('real'):.3f}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds")
    parser.add_argument("--cases", type=int, default=50, help="cases per contender per round")
    parser.add_argument("--concurrency", type=int, default=50, help="cases driven at a time, each")
    parser.add_argument(
        "--against",
        type=Path,
        action="append",
        default=[],
        help="another checkout whose real case to measure too (repeatable)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure the real case with its registry on this PostgreSQL server (a"
        " database of its own is made there and dropped), and the server's CPU with it",
    )
    parser.add_argument("--keep", type=Path, help="keep data and logs in this directory")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.cases < 1:
        parser.error("--rounds and --cases must be at least 1")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
