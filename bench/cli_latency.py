"""CLI latency: wall time of ``idri status CASE`` as an operator runs it (a new process each time:
interpreter start, imports, connection, the query), median of 20, against the dev server and the
worker of the lifecycle benchmark.

On a shared machine the wall time swings with the load; the CPU time of each run (user + system,
of the child process) swings less, so both are kept. ``python -m bench.cli_latency CASE`` measures
against whatever the environment points at (``IDRI_TEMPORAL_ADDRESS``) and adds where the
import time goes (``-X importtime``, the smallest of a few runs per module, by package).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CliResult:
    runs: list[float]
    """Wall time of each run, in seconds."""
    cpu: list[float] = field(default_factory=list)
    """CPU time (user + system) of each run, in seconds."""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)


def idri_executable() -> str:
    candidate = Path(sys.executable).parent / "idri"
    if not candidate.exists():
        raise RuntimeError(f"{candidate} is missing: install the project (`make test` does)")
    return str(candidate)


def measure(case_id: str, env: dict[str, str], *, runs: int = 20) -> CliResult:
    command = [idri_executable(), "status", case_id]
    # One run first, untimed: it compiles what is not compiled yet and warms the file cache.
    subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        begin = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        times.append(time.perf_counter() - begin)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"`idri status {case_id}` failed: {done.stderr.strip()}")
    return CliResult(times, cpu)


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)")


def import_breakdown(case_id: str, env: dict[str, str], *, runs: int = 5) -> dict[str, float]:
    """Milliseconds of import time by top-level package (each module's smallest self time),
    largest first."""
    best: dict[str, float] = {}
    for _ in range(runs):
        stderr = subprocess.run(
            [idri_executable(), "status", case_id],
            env=env | {"PYTHONPROFILEIMPORTTIME": "1"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stderr
        for match in _IMPORT_LINE.finditer(stderr):
            module, ms = match[2], int(match[1]) / 1000
            best[module] = min(best.get(module, ms), ms)
    by_package: dict[str, float] = {}
    for module, ms in best.items():
        package = module.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + ms
    return dict(sorted(by_package.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", help="a case id the server knows")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = dict(os.environ)
    result = measure(args.case, env, runs=args.runs)
    print(
        f"idri status, {args.runs} runs: wall median {result.median:.3f} s, min {result.min:.3f} s;"
        f" CPU median {statistics.median(result.cpu):.3f} s, min {min(result.cpu):.3f} s"
    )
    breakdown = import_breakdown(args.case, env)
    print(f"imports: {sum(breakdown.values()):.0f} ms (-X importtime, by package)")
    for package, ms in list(breakdown.items())[:15]:
        print(f"  {package:<20} {ms:6.1f} ms")


if __name__ == "__main__":
    main()
