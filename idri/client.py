"""Connecting to Temporal the same way everywhere: embedded dev server, compose cluster, Cloud.

Temporal's standard environment configuration (``temporalio.envconfig``: a profile file,
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, TLS certificates, ``TEMPORAL_API_KEY``) wins; the
``IDRI_TEMPORAL_*`` settings fill in what it leaves unset.

Two ways in, from the same configuration: :func:`connect`, the SDK's :class:`Client` for workers
and most commands; and :func:`connect_service`, the bare service connection underneath it, for a
command that makes one call and needs no ``Client`` (``idri status``: importing
``temporalio.client`` takes about a tenth of a second, a fifth of the whole command).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.envconfig import ClientConfigProfile

from idri.settings import Settings
from models import search

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.converter import DataConverter
    from temporalio.service import ServiceClient


def connect_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect``: envconfig first, then idri's settings."""
    config: dict[str, Any] = dict(ClientConfigProfile.load().to_client_connect_config())
    config.setdefault("target_host", settings.temporal_address)
    config["namespace"] = config.get("namespace") or settings.temporal_namespace
    return config


async def connect(settings: Settings) -> Client:
    from temporalio.client import Client

    from idri.codec import data_converter  # cryptography is only needed once we connect

    return await Client.connect(**connect_config(settings), data_converter=data_converter(settings))


@dataclass(frozen=True)
class ServiceConnection:
    """What :func:`connect` would make a :class:`Client` of: the service connection, the
    namespace and the data converter."""

    service_client: ServiceClient
    namespace: str
    data_converter: DataConverter

    def client(self) -> Client:
        """The :class:`Client` over this connection, as :func:`connect` returns it."""
        from temporalio.client import Client

        return Client(
            self.service_client, namespace=self.namespace, data_converter=self.data_converter
        )


async def connect_service(settings: Settings) -> ServiceConnection:
    """Connect as :func:`connect` does, without building (or importing) the SDK's ``Client``.

    ``Client.connect`` makes a ``ConnectConfig`` of its keyword arguments other than the
    namespace and the data converter; this makes the same one of :func:`connect_config`
    (``tests/cli/test_lean_query.py`` compares the two).

    Raises:
        EncryptionConfigError: before connecting, when the encryption settings cannot work.
    """
    from temporalio.service import ConnectConfig, ServiceClient

    from idri.codec import data_converter

    config = connect_config(settings)
    namespace = config.pop("namespace")
    converter = data_converter(settings)
    service_client = await ServiceClient.connect(ConnectConfig(**config))
    return ServiceConnection(service_client, namespace, converter)


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register idri's search attributes where they are missing; return the names added.

    On Temporal Cloud this needs namespace admin rights; there they are created once with
    ``tcld`` or the UI, and this finds them present.
    """
    namespace = client.namespace
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type.value))
        for key in search.ALL
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
