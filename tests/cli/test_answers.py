"""How the service (``idri.service.temporal``, behind the API) explains that a case could not
answer: a failed query, Temporal's own refusals, with the status the API answers; and how the
administration commands connect (Temporal's
environment configuration first, then idri's settings; a malformed key refused before
connecting). Case commands go through the API: their answers are ``test_api_client.py``'s.

The server answers for real where the local dev server can produce the failure; a refusal it
never sends here (an exhausted namespace, missing rights) comes from a faked service call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    QueryWorkflowRequest,
    QueryWorkflowResponse,
)
from temporalio.client import Client
from temporalio.service import ConnectConfig, RPCError, RPCStatusCode, ServiceClient

from idri.client import connect
from idri.codec import EncryptionConfigError
from idri.service.errors import ServiceError
from idri.service.temporal import answer, case_handle
from idri.settings import Settings
from tests.cli.stack import Stack, new_case
from workflows.institute import InstituteWorkflow

CASE = "binhai-1a2b3c4d"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _outcome(call: Any) -> tuple[str, str, int]:
    try:
        await call
    except ServiceError as error:
        return ("error", error.message, error.status)
    return ("answer", "", 0)


# --- Real answers from the session's server ------------------------------------------------------


@pytest.fixture
def case(stack: Stack, org: str) -> str:
    """A new case on the session's server."""
    return new_case(stack, org)


@pytest.mark.devserver
async def test_a_failed_query_says_the_case_could_not_answer(stack: Stack, case: str) -> None:
    client = await Client.connect(stack.address)
    handle = client.get_workflow_handle(f"institute-{case}")

    kind, message, code = await _outcome(answer(client, case, handle.query("no_such_query")))

    assert (kind, code) == ("error", 409)
    assert message.startswith(
        f"case {case} could not answer: Query handler for 'no_such_query' expected but not found"
    )


@pytest.mark.devserver
async def test_a_query_by_method_reference_answers_with_the_case(
    stack: Stack, org: str, case: str
) -> None:
    client = await Client.connect(stack.address)

    status = await answer(client, case, case_handle(client, case).query(InstituteWorkflow.status))

    assert (status.case_id, status.organisation, status.stage.value) == (case, org, "surveyed")


# --- Refusals the local server does not send --------------------------------------------------------


class FakeService:
    """The workflow service's answers to a query and a describe, each an error."""

    def __init__(self, query_error: RPCError, describe_error: RPCError) -> None:
        self.query_error = query_error
        self.describe_error = describe_error

    async def query_workflow(self, req: QueryWorkflowRequest, **_: Any) -> QueryWorkflowResponse:
        raise self.query_error

    async def describe_workflow_execution(
        self, req: DescribeWorkflowExecutionRequest, **_: Any
    ) -> Any:
        raise self.describe_error


@pytest.fixture
async def offline_client() -> Client:
    """A client that never connects: every call a test makes on it is faked."""
    service = await ServiceClient.connect(ConnectConfig(target_host="localhost:1", lazy=True))
    return Client(service, namespace="idri-test")


def _install(monkeypatch: pytest.MonkeyPatch, client: Client, fake: FakeService) -> None:
    workflow_service = client.service_client.workflow_service
    monkeypatch.setattr(workflow_service, "query_workflow", fake.query_workflow)
    monkeypatch.setattr(
        workflow_service, "describe_workflow_execution", fake.describe_workflow_execution
    )


async def test_temporals_own_refusal_is_passed_on(
    monkeypatch: pytest.MonkeyPatch, offline_client: Client
) -> None:
    busy = RPCError("namespace is busy", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
    _install(monkeypatch, offline_client, FakeService(busy, busy))
    handle = case_handle(offline_client, CASE)

    outcome = await _outcome(answer(offline_client, CASE, handle.query(InstituteWorkflow.status)))

    assert outcome == (
        "error",
        f"Temporal refused the call for case {CASE}: namespace is busy",
        409,
    )


async def test_a_case_that_cannot_be_described_says_why(
    monkeypatch: pytest.MonkeyPatch, offline_client: Client
) -> None:
    fake = FakeService(
        RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""),
        RPCError("no rights", RPCStatusCode.PERMISSION_DENIED, b""),
    )
    _install(monkeypatch, offline_client, fake)
    handle = case_handle(offline_client, CASE)

    outcome = await _outcome(answer(offline_client, CASE, handle.query(InstituteWorkflow.status)))

    assert outcome == ("error", f"case {CASE} cannot be reached: no rights", 503)


# --- Connecting ------------------------------------------------------------------------------------


@pytest.fixture
def no_temporal_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[pytest.MonkeyPatch]:
    """No TEMPORAL_* from the developer's shell; no profile file."""
    for name in [n for n in os.environ if n.startswith("TEMPORAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "none.toml"))
    yield monkeypatch


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {
            "TEMPORAL_ADDRESS": "idri.acct.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "idri.acct",
            "TEMPORAL_API_KEY": "an-api-key",
            "TEMPORAL_TLS_SERVER_NAME": "idri.acct.tmprl.cloud",
        },
    ],
    ids=["idri settings", "envconfig with API key and TLS"],
)
async def test_temporals_environment_configuration_comes_first(
    no_temporal_env: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        no_temporal_env.setenv(name, value)
    configs: list[ConnectConfig] = []

    async def capture(config: ConnectConfig) -> ServiceClient:
        configs.append(config)
        return cast(ServiceClient, object())  # never called: nothing is asked of the server

    no_temporal_env.setattr(ServiceClient, "connect", staticmethod(capture))

    client = await connect(_settings(temporal_address="localhost:7299", temporal_namespace="ns"))

    (config,) = configs
    assert config.target_host == environment.get("TEMPORAL_ADDRESS", "localhost:7299")
    assert (config.api_key is not None) is bool(environment)
    assert client.namespace == environment.get("TEMPORAL_NAMESPACE", "ns")


async def test_a_malformed_key_is_refused_before_connecting(
    no_temporal_env: pytest.MonkeyPatch,
) -> None:
    async def must_not_connect(config: ConnectConfig) -> ServiceClient:
        raise AssertionError("connected despite a malformed key")

    no_temporal_env.setattr(ServiceClient, "connect", staticmethod(must_not_connect))
    with pytest.raises(EncryptionConfigError, match="must be base64 of 32 random bytes"):
        await connect(_settings(encryption_keys={"k1": "not-a-key"}))
