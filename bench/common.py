"""What every benchmark shares: the embedded dev server, the worker process, /proc readings, the
machine's description and the results table."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from idri.devserver import DevServer, free_port

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def say(line: str) -> None:
    """A benchmark's progress, on standard error (the results go to standard output)."""
    print(line, file=sys.stderr, flush=True)


# --- The server -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def dev_server(data_dir: Path) -> AsyncIterator[DevServer]:
    """``temporal server start-dev`` as ``idri up`` runs it (SQLite file, WAL), headless, on a
    free port; stopped at the end."""
    server = DevServer(data_dir, port=free_port(), headless=True)
    server.start()
    try:
        await server.wait_ready(timeout=60)
        yield server
    finally:
        server.stop()


# --- The worker process ---------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: no ``IDRI_*``/``TEMPORAL_*`` from the caller's shell
    (a developer's profile must not redirect the benchmark), plus ``extra``.

    Nor ``PYTHONDONTWRITEBYTECODE``: a user's Python writes bytecode, while a process forbidden
    to would compile every module it imports, every time (the CLI's at each command, the
    workflow sandbox's at each run), and the benchmark would measure the shell, not idri."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IDRI_", "TEMPORAL_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["TEMPORAL_CONFIG_FILE"] = "/nonexistent/idri-bench-temporal.toml"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    """``python -m bench.worker`` in a subprocess (see ``bench/worker.py``)."""

    env: dict[str, str]
    log: Path
    root: Path = ROOT
    """The checkout whose code the worker runs (``bench.paired --against`` runs another one's)."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    async def start(self, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker"],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        if line.strip() != b"ready":
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the benchmark worker did not start: {line!r}\n{tail}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_mb(self) -> tuple[float, float]:
        return memory_mb(self.pid)

    async def wait_idle(
        self, *, window: float = 0.5, busy: float = 0.05, limit: float = 30
    ) -> None:
        """Wait until the worker spends less than ``busy`` CPU seconds in ``window`` (its
        pollers' idle cost), at most ``limit`` seconds: its queued work is done."""
        deadline = time.monotonic() + limit
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            await asyncio.sleep(window)
            now = self.cpu_seconds()
            if now - before < busy:
                return
            before = now

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- /proc ----------------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MiB of a live process (``VmRSS``, ``VmHWM``)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def machine() -> str:
    """One line describing where the numbers were measured."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    memory = 0.0
    with contextlib.suppress(OSError, ValueError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = int(first.split()[1]) / 1024 / 1024
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} x {model}, {memory:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, load average {load}"
    )


# --- Driving --------------------------------------------------------------------------------------


async def bounded(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``jobs`` with at most ``limit`` at a time; the first failure is raised."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


# --- The results table ----------------------------------------------------------------------------


@dataclass
class Row:
    benchmark: str
    measure: str
    value: str
    note: str = ""


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (what ``bench/RESULTS.md`` holds)."""
    head = ("benchmark", "measure", "value", "note")
    cells = [head, *((r.benchmark, r.measure, r.value, r.note) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["| " + " | ".join(c[i].ljust(widths[i]) for i in range(4)) + " |" for c in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"
