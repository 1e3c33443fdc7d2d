"""``python -m idri.api``: the API alone (the compose stack's ``api`` service).

Listens on ``IDRI_API_HOST``:``IDRI_API_PORT``; connects to Temporal as the worker does
(``TEMPORAL_ADDRESS`` or ``IDRI_TEMPORAL_ADDRESS``, TLS and API key from Temporal's environment
configuration). On a fresh registry it prints where the first admin's token was written.
"""

from __future__ import annotations

import asyncio

import structlog

from idri.api.server import api_server, build_services, first_admin_token
from idri.client import connect
from idri.logging import configure_logging
from idri.settings import get_settings


async def serve() -> None:
    settings = get_settings()
    client = await connect(settings)
    services = build_services(client, settings)
    written = first_admin_token(services, settings.data_dir)
    log = structlog.get_logger("idri.api")
    if written is not None:
        log.info("first admin created", token_file=str(written))
    log.info("api listening", host=settings.api_host, port=settings.api_port)
    server = api_server(
        services, host=settings.api_host, port=settings.api_port, handle_signals=True
    )
    await server.serve()


def main() -> None:
    configure_logging()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
