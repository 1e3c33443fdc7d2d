"""Serving the API: beside the worker in ``idri up``, or alone (``python -m idri.api``, the
compose stack's ``api`` service). Both build the same services over the same settings."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import uvicorn
from temporalio.client import Client

from activities.db import create_registry_engine, migrate
from idri.api.app import create_app
from idri.api.deps import Services, WebOptions
from idri.auth.accounts import AccountStore
from idri.documents import open_store
from idri.service.cases import CaseService
from idri.service.documents import DocumentService
from idri.settings import Settings

API_URL_FILE = "api.url"
"""In the data directory: where the local API listens, for the CLI on this machine."""
ADMIN_TOKEN_FILE = "admin.token"
"""In the data directory: the first admin's token, written once, mode 0600."""


def build_services(client: Client, settings: Settings) -> Services:
    """The API's services over ``client`` and the registry of ``settings`` (migrated first)."""
    migrate(settings.registry_url)
    engine = create_registry_engine(settings.registry_url)
    accounts = AccountStore(engine, token_lifetime=timedelta(days=settings.token_days))
    cases = CaseService(client, settings.task_queue, engine, accounts)
    documents = DocumentService(cases, open_store(settings), engine, settings.document_max_bytes)
    web = WebOptions(
        secure_cookies=settings.web_secure_cookies,
        session_lifetime=timedelta(hours=settings.web_session_hours),
    )
    return Services(cases, accounts, engine, web, settings, documents)


def api_server(
    services: Services, *, host: str, port: int, handle_signals: bool = False
) -> uvicorn.Server:
    """A uvicorn server for the API; ``await server.serve()`` runs it, ``server.should_exit``
    stops it. Beside the worker (``handle_signals=False``) it installs no signal handlers: its
    owner decides when to stop."""
    config = uvicorn.Config(
        create_app(services),
        host=host,
        port=port,
        log_level="warning",  # the app logs every request itself (structlog)
        access_log=False,
        lifespan="off",
    )
    return uvicorn.Server(config) if handle_signals else _OwnedServer(config)


class _OwnedServer(uvicorn.Server):
    """A server that leaves signals to its owner: ``idri up`` stops the API, the worker and
    the Temporal server together on Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def first_admin_token(services: Services, data_dir: Path) -> Path | None:
    """On a fresh registry, create the first admin and write its token to
    ``<data dir>/admin.token`` (mode 0600); the path written, or None if accounts exist."""
    token = services.accounts.ensure_first_admin()
    if token is None:
        return None
    path = data_dir / ADMIN_TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(token + "\n")
    os.chmod(path, 0o600)
    return path


def write_api_url(data_dir: Path, url: str) -> None:
    (data_dir / API_URL_FILE).write_text(url + "\n", encoding="utf-8")


async def wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Return once ``server`` listens; raise what stopped it otherwise (a taken port)."""
    while not server.started:
        if task.done():
            # uvicorn logs why and exits (SystemExit) when it cannot bind its port.
            error = task.exception() if not task.cancelled() else None
            if error is not None and not isinstance(error, SystemExit):
                raise error
            raise OSError(f"the API could not listen on port {server.config.port} (is it taken?)")
        await asyncio.sleep(0.02)
