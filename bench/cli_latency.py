"""CLI latency: wall time of ``idri status CASE`` as an operator runs it (a new process each time:
interpreter start, imports, connection, the query), median of 20, against the dev server and the
worker of the lifecycle benchmark."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    runs: list[float]
    """Wall time of each run, in seconds."""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def idri_executable() -> str:
    candidate = Path(sys.executable).parent / "idri"
    if not candidate.exists():
        raise RuntimeError(f"{candidate} is missing: install the project (`make test` does)")
    return str(candidate)


def measure(case_id: str, env: dict[str, str], *, runs: int = 20) -> CliResult:
    command = [idri_executable(), "status", case_id]
    # One run first, untimed: it compiles what is not compiled yet and warms the file cache.
    subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        times.append(time.perf_counter() - begin)
        if done.returncode != 0:
            raise RuntimeError(f"`idri status {case_id}` failed: {done.stderr.strip()}")
    return CliResult(times)
