"""Connecting to Temporal the same way everywhere: embedded dev server, compose cluster, Cloud.

Temporal's standard environment configuration (``temporalio.envconfig``: a profile file,
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, TLS certificates, ``TEMPORAL_API_KEY``) wins; the
``IDRI_TEMPORAL_*`` settings fill in what it leaves unset.

Workers and commands connect with :func:`connect`, which gives the SDK's :class:`Client`.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile

from idri.settings import Settings
from models import search


def connect_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect``: envconfig first, then idri's settings."""
    config: dict[str, Any] = dict(ClientConfigProfile.load().to_client_connect_config())
    config.setdefault("target_host", settings.temporal_address)
    config["namespace"] = config.get("namespace") or settings.temporal_namespace
    return config


async def connect(settings: Settings) -> Client:
    from idri.codec import data_converter  # cryptography is only needed once we connect

    return await Client.connect(**connect_config(settings), data_converter=data_converter(settings))


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
