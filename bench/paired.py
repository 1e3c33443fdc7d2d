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
changes, in the same rounds, to about a hundredth of the ratio.
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

from temporalio.client import Client

from bench.common import ROOT, WorkerProcess, clean_env, dev_server, say
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

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for contender in self.contenders:
            queue = f"paired-{contender.name}-{uuid.uuid4().hex[:6]}"
            # Every queue a bench worker polls is named: its own kind's gets the cases, the
            # others are unused (an older checkout's worker serves every kind).
            queues = {
                kind: queue if kind == contender.kind else f"{queue}-{kind}" for kind in KINDS
            }
            env = clean_env(
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
                registry=self.root / contender.name / "registry.sqlite3",
                notice_seconds=NOTICE.total_seconds(),
                concurrency=self.concurrency,
                progress=self.progress,
            )

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()

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
        """Every contender's ``cases`` at once; each one's CPU seconds per case."""
        before = {name: worker.cpu_seconds() for name, worker in self.workers.items()}

        async def contender_round(contender: Contender) -> None:
            driver = self.drivers[contender.name]
            numbers = range(self.started, self.started + cases)
            self.started += cases
            await driver.drive_to_designation(contender.kind, numbers)
            if contender.kind == "real":
                await driver.queues_emptied()  # its mail and pages are its cases' work

        await asyncio.gather(*(contender_round(c) for c in self.contenders))
        for worker in self.workers.values():
            await worker.wait_idle()
        return {
            name: (worker.cpu_seconds() - before[name]) / cases
            for name, worker in self.workers.items()
        }


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
    for contender in contenders[:-1]:
        print(
            f"{contender.name} ({contender.root}): {result.cpu_per_case(contender.name) * 1000:.1f}"
            f" ms/case, vs matched {result.ratio(contender.name):.3f} "
            f"({result.spread(contender.name)})"
        )
        if contender.name != "real":
            print(
                f"  real vs {contender.name}: {result.ratio('real', contender.name):.3f} "
                f"({result.spread('real', contender.name)})"
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
    parser.add_argument("--keep", type=Path, help="keep data and logs in this directory")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.cases < 1:
        parser.error("--rounds and --cases must be at least 1")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
