"""``idri up``: the whole service in the foreground, on embedded defaults.

In order: the Temporal dev server (``idri.devserver``, persisted under ``IDRI_DATA_DIR``) unless
``TEMPORAL_ADDRESS`` names a server to use; with encryption keys configured, the codec server
for the Web UI; the search attributes; the worker; the schedules (``idri.schedules``); the API
(``idri.api``), on the same event loop and client as the worker, its address written to
``<data dir>/api.url`` and, on a fresh registry, the first admin's token to
``<data dir>/admin.token``. Then it prints where to look and what to try, and runs until Ctrl-C
(or SIGTERM), which stops the API and the worker first and the server last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idri.cli._common import EXIT_UNAVAILABLE, CliError, connect_client, console, fail, settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from idri.devserver import DevServer
    from idri.settings import Settings

HELP_PANEL = "Service"


def register(app: typer.Typer) -> None:
    app.command("up", rich_help_panel=HELP_PANEL)(up)


def up(
    port: Annotated[int, typer.Option("--port", help="gRPC port of the dev server.")] = 7233,
    ui_port: Annotated[
        int | None,
        typer.Option(
            "--ui-port", help="Web UI port (default: --port + 1000, i.e. 8233).", show_default=False
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where cases persist (default: IDRI_DATA_DIR, .idri/).",
            show_default=False,
        ),
    ] = None,
    headless: Annotated[bool, typer.Option("--headless", metavar="", help="No Web UI.")] = False,
) -> None:
    """Start the Temporal dev server, the worker and the schedules; Ctrl-C stops them all.

    With TEMPORAL_ADDRESS set, only the worker and the schedules start, against that server.
    """
    from idri.codec import EncryptionConfigError
    from idri.devserver import DevServerError
    from idri.logging import configure_logging

    configure_logging()
    # Migrations log every step at INFO; the operator's terminal needs only problems from them.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    configured = settings()
    if data_dir is not None:
        configured = configured.model_copy(update={"data_dir": data_dir})
    try:
        code = asyncio.run(_up(configured, port=port, ui_port=ui_port, headless=headless))
    except (DevServerError, EncryptionConfigError) as error:
        fail(str(error))
    except CliError as error:
        fail(str(error), error.code)
    raise typer.Exit(code)


async def _up(configured: Settings, *, port: int, ui_port: int | None, headless: bool) -> int:
    from idri.client import connect_config
    from idri.devserver import DevServer

    stop = asyncio.Event()
    external = os.environ.get("TEMPORAL_ADDRESS")
    server: DevServer | None = None

    def interrupted() -> None:
        if not stop.is_set():
            stop.set()
            return
        # A second Ctrl-C: the worker's shutdown is stuck (e.g. the server went away and its
        # polls keep retrying). Stop our server and leave without waiting.
        console().print("[red]second interrupt: stopping at once[/]")
        if server is not None:
            server.stop(timeout=5)
        os._exit(130)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted)
    codec: Any = None
    try:
        if not external:
            server = DevServer(
                configured.data_dir,
                port=port,
                ui_port=ui_port,
                headless=headless,
                namespace=connect_config(configured)["namespace"],
            )
            server.reserve()
            configured, codec = _start_codec_server(configured, server)
            server.start()
            await server.wait_ready()
            configured = configured.model_copy(update={"temporal_address": server.address})
        client = await _connect(configured, own_server=server is not None)
        code = await _serve(client, configured, server, codec, stop)
        # The SDK's client and worker sit in reference cycles; collected only while the
        # interpreter finalises, their native parts abort the process (SIGABRT or SIGSEGV, exit
        # status 134 or 139 after a clean Ctrl-C; temporalio/sdk-python#300). Collect them now,
        # while the event loop still runs.
        del client
        gc.collect()
        return code
    finally:
        if server is not None:
            server.stop()
        if codec is not None:
            codec.close()


async def _connect(configured: Settings, *, own_server: bool) -> Client:
    from temporalio.client import Client

    from idri.client import connect_config
    from idri.codec import data_converter

    if not own_server:
        return await connect_client(configured)  # one line and exit status 3 if unreachable
    # Our own server: its address wins over a Temporal profile file's.
    config = connect_config(configured) | {"target_host": configured.temporal_address}
    return await Client.connect(**config, data_converter=data_converter(configured))


async def _serve(
    client: Client,
    configured: Settings,
    server: DevServer | None,
    codec: Any,
    stop: asyncio.Event,
) -> int:
    from idri.client import ensure_search_attributes
    from idri.schedules import install_schedules
    from idri.worker import build_worker

    await ensure_search_attributes(client)
    worker = build_worker(client, configured)
    async with worker:
        await install_schedules(client, configured)
        api = await _start_api(client, configured)
        _banner(client, configured, server, codec, api)
        code = 0
        while not stop.is_set():
            if server is not None and not server.running():
                console().print(
                    f"[red]the Temporal dev server stopped unexpectedly:[/] {server.log_tail()}"
                )
                code = 1
                break
            if api.task.done():
                console().print("[red]the API stopped unexpectedly[/]")
                code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        console().print(
            "stopping: the API and the worker first, then the Temporal server … "
            "(Ctrl-C again to stop at once)"
        )
        await api.stop()
    del worker  # see _up: collected while the loop runs
    return code


@dataclass
class RunningApi:
    """The API served beside the worker, on the same event loop and Temporal client."""

    url: str
    server: Any
    task: asyncio.Task[None]
    admin_token: Path | None
    """Where the first admin's token was written, on a fresh registry."""

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception, SystemExit):
            await asyncio.wait_for(self.task, 10)


async def _start_api(client: Client, configured: Settings) -> RunningApi:
    from idri.api.server import (
        api_server,
        build_services,
        first_admin_token,
        wait_started,
        write_api_url,
    )

    services = build_services(client, configured)
    written = first_admin_token(services, configured.data_dir)
    server = api_server(services, host=configured.api_host, port=configured.api_port)
    task = asyncio.create_task(server.serve())
    try:
        await wait_started(server, task)
    except OSError as error:
        raise CliError(f"{error}; set IDRI_API_PORT to a free port", EXIT_UNAVAILABLE) from None
    host = "127.0.0.1" if configured.api_host in ("0.0.0.0", "::", "") else configured.api_host
    url = f"http://{host}:{configured.api_port}"
    write_api_url(configured.data_dir, url)
    return RunningApi(url, server, task, written)


def _start_codec_server(configured: Settings, server: DevServer) -> tuple[Settings, Any]:
    """With encryption keys, serve the codec for the Web UI (so officers read decrypted
    payloads) and let the UI call it."""
    if not configured.encryption_keys or server.headless:
        return configured, None
    from idri.codec_server import make_server

    origins = [o.strip() for o in configured.codec_cors_origin.split(",") if o.strip()]
    if server.ui_url not in origins:
        origins.append(server.ui_url)
        configured = configured.model_copy(update={"codec_cors_origin": ",".join(origins)})
    try:
        codec = make_server(configured, host="127.0.0.1")
    except OSError as error:
        fail(f"cannot start the codec server on port {configured.codec_port}: {error}")
    codec.start()
    server.codec_endpoint = codec.url
    return configured, codec


def _banner(
    client: Client,
    configured: Settings,
    server: DevServer | None,
    codec: Any,
    api: RunningApi,
) -> None:
    from urllib.parse import quote

    out = console()
    namespace = client.namespace
    out.print("[bold green]idri is up.[/]")
    if server is not None:
        out.print(
            f"  Temporal   {server.address} (namespace {namespace}), data in {configured.data_dir}/"
        )
        if not server.headless:
            ui = f"{server.ui_url}/namespaces/{namespace}/workflows"
            example = quote('IdriStage="public_notice"')
            out.print(f"  Web UI     [link={ui}]{ui}[/link]")
            out.print(f"             cases in public notice: {ui}?query={example}")
    else:
        address = client.service_client.config.target_host
        out.print(f"  Temporal   {address} (TEMPORAL_ADDRESS), namespace {namespace}")
    if codec is not None:
        out.print(f"  Codec      {codec.url} (the Web UI decrypts case data through it)")
    out.print(
        f"  Worker     task queue {configured.task_queue}; registry {configured.registry_url}"
    )
    out.print("  Schedules  installed")
    out.print(f"  API        {api.url} (OpenAPI at {api.url}/docs)")
    out.print(f"  Workbench  {api.url}/ (staff sign in with their account's password)")
    if api.admin_token is not None:
        out.print(
            f"  Admin      first account 'admin'; its token is in {api.admin_token} "
            "(mode 0600), which idri on this machine uses when no other token is given"
        )
    for line in mail_gaps(configured):
        out.print(f"  [yellow]Mail[/]       {line}")
    out.print("\nTry, in another terminal:")
    idri = hint_command(configured, server.address if server and server.port != 7233 else None)
    out.print(f"  {idri} districts")
    out.print(
        f"  {idri} survey add --name 天津示例工业设计有限公司 --district 滨海新区 --direction ai"
    )
    out.print(f"  {idri} list --stage surveyed")
    out.print(f"  {idri} status CASE      (the case id printed by survey add)")
    out.print("\nCtrl-C stops the worker and the server; cases persist in the data directory.")


def idri_command() -> str:
    """``idri`` as a person can type it here: the bare name when the shell finds this very
    script on PATH (an activated environment), else its path (``.venv/bin/idri``)."""
    import shutil
    import sys

    script = Path(sys.argv[0])
    found = shutil.which("idri")
    if found and script.name == "idri" and Path(found).resolve() == script.resolve():
        return "idri"
    if script.name != "idri":  # python -m idri.cli, python starter.py: the environment's own
        script = Path(sys.executable).parent / "idri"
    try:
        return str(script.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(script.resolve())


def hint_command(configured: Settings, temporal_address: str | None) -> str:
    """``idri`` as the hints print it, runnable from another terminal in this directory: with
    the data directory (where the CLI finds the API's address and the admin's token) unless it
    is the default, and the Temporal address unless it is the default."""
    env = ""
    if configured.data_dir.resolve() != Path(".idri").resolve():
        env += f"IDRI_DATA_DIR={configured.data_dir.resolve()} "
    if temporal_address is not None:
        env += f"IDRI_TEMPORAL_ADDRESS={temporal_address} "
    return env + idri_command()


def mail_gaps(configured: Settings) -> list[str]:
    """What keeps mail from reaching people with these settings, one line each."""
    from models.catalog import DISTRICTS

    gaps = []
    if configured.smtp_host is None:
        gaps.append(
            f"no IDRI_SMTP_HOST: mail is written as .eml files to {configured.data_dir}/outbox/"
        )
    missing = [code for code in DISTRICTS.codes() if code not in configured.district_emails]
    if missing:
        gaps.append(
            f"no mailbox for {len(missing)} of {len(DISTRICTS.codes())} districts: their mail "
            "is undeliverable; set IDRI_DISTRICT_EMAILS="
            '\'{"binhai": "gxj@binhai.example.cn", ...}\''
        )
    gaps.append("experts are written to at the e-mail of their account (idri user add --email)")
    return gaps
