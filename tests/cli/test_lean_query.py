"""``idri status`` and ``idri history`` read a case on the bare service connection, without the
SDK's ``Client`` (see ``idri.cli._common.query_case``): the same connection settings, the same
request, the same answer and the same failures as ``WorkflowHandle.query`` through ``answer``.

The service calls are replaced by fakes here, so each test compares the two paths on exactly the
same server answer; ``test_lazy.py`` runs the command itself against a real server."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    QueryWorkflowRequest,
    QueryWorkflowResponse,
)
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import ConnectConfig, RPCError, RPCStatusCode, ServiceClient

import idri.cli._common as common
from idri.cli._common import HISTORY_QUERY, STATUS_QUERY, CliError, answer, query_case, workflow_id
from idri.client import ServiceConnection, connect, connect_service
from idri.codec import EncryptionConfigError, data_converter
from idri.settings import Settings
from models.case import (
    CaseStatus,
    Deadline,
    HistoryEntry,
    Level,
    NoticePeriod,
    ReviewEntry,
    Role,
    Stage,
)

KEY = base64.b64encode(bytes(range(32))).decode()
CASE = "binhai-1a2b3c4d"
NAMESPACE = "idri-test"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def no_temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No TEMPORAL_* from the developer's shell; no profile file."""
    for name in [n for n in os.environ if n.startswith("TEMPORAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "none.toml"))
    return monkeypatch


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {
            "TEMPORAL_ADDRESS": "idri.acct.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "idri.acct",
            "TEMPORAL_API_KEY": "an-api-key",
            "TEMPORAL_TLS_SERVER_NAME": "idri.acct.tmprl.cloud",
            "TEMPORAL_GRPC_META_X_TENANT": "tianjin",
        },
    ],
    ids=["idri settings", "envconfig with API key and TLS"],
)
async def test_the_lean_connection_is_the_one_client_connect_makes(
    no_temporal_env: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        no_temporal_env.setenv(name, value)
    configs: list[ConnectConfig] = []

    async def capture(config: ConnectConfig) -> ServiceClient:
        configs.append(config)
        return cast(ServiceClient, object())  # never called: nothing is asked of the server

    no_temporal_env.setattr(ServiceClient, "connect", staticmethod(capture))
    configured = _settings(temporal_address="localhost:7299", temporal_namespace="idri-ns")

    client = await connect(configured)
    connection = await connect_service(configured)

    by_client, lean = configs
    assert lean == by_client
    assert lean.target_host == environment.get("TEMPORAL_ADDRESS", "localhost:7299")
    assert (lean.api_key is not None) is bool(environment)
    assert (
        connection.namespace == client.namespace == environment.get("TEMPORAL_NAMESPACE", "idri-ns")
    )
    assert connection.data_converter == client.data_converter
    again = connection.client()
    assert (again.namespace, again.data_converter) == (client.namespace, client.data_converter)
    assert again.service_client is connection.service_client


async def test_a_malformed_key_is_refused_before_connecting(
    no_temporal_env: pytest.MonkeyPatch,
) -> None:
    async def must_not_connect(config: ConnectConfig) -> ServiceClient:
        raise AssertionError("connected despite a malformed key")

    no_temporal_env.setattr(ServiceClient, "connect", staticmethod(must_not_connect))
    with pytest.raises(EncryptionConfigError, match="must be base64 of 32 random bytes"):
        await connect_service(_settings(encryption_keys={"k1": "not-a-key"}))


# --- The query ------------------------------------------------------------------------------------

MOMENT = datetime(2027, 4, 1, tzinfo=UTC)
STATUS = CaseStatus(
    case_id=CASE,
    organisation="天津示例工业设计有限公司",
    district="binhai",
    direction="ai",
    stage=Stage.PUBLIC_NOTICE,
    level=Level.MUNICIPAL,
    round_year=2027,
    deadline=Deadline("notice_end", MOMENT, "the public notice ends"),
    allowed_actions=["object"],
    designated_at=None,
    next_evaluation_due=None,
    missed_rounds=1,
    open_objections=0,
    reviews=[ReviewEntry("张教授", "天津大学", "zhang@example.cn", 86.5, "良好")],
    warnings=["a warning"],
    notice=NoticePeriod(MOMENT, MOMENT + timedelta(days=7), 5),
    history_length=7,
)
HISTORY = [
    HistoryEntry(1, MOMENT, "created", Stage.SURVEYED, Stage.SURVEYED, "idri", Role.SYSTEM, "x")
]


@dataclass
class FakeServer:
    """The workflow service calls of one test: what they were asked and what they answer."""

    answer: Callable[[QueryWorkflowRequest], Awaitable[QueryWorkflowResponse]]
    queries: list[tuple[QueryWorkflowRequest, bool, dict[str, Any], Any]] = field(
        default_factory=list
    )
    describe_error: RPCError = field(
        default_factory=lambda: RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
    )

    async def query_workflow(
        self,
        req: QueryWorkflowRequest,
        retry: bool = False,
        metadata: dict[str, Any] | None = None,
        timeout: timedelta | None = None,
    ) -> QueryWorkflowResponse:
        self.queries.append((req, retry, dict(metadata or {}), timeout))
        return await self.answer(req)

    async def describe_workflow_execution(
        self, req: DescribeWorkflowExecutionRequest, **_: Any
    ) -> Any:
        raise self.describe_error


@pytest.fixture(params=[False, True], ids=["plain", "encrypted"])
def converter(request: pytest.FixtureRequest) -> DataConverter:
    keys = {"k1": KEY} if request.param else {}
    return data_converter(_settings(encryption_keys=keys))


@pytest.fixture
async def service() -> ServiceClient:
    """A service client that never connects: every call it makes in a test is faked."""
    return await ServiceClient.connect(ConnectConfig(target_host="localhost:1", lazy=True))


def _install(monkeypatch: pytest.MonkeyPatch, service: ServiceClient, fake: FakeServer) -> None:
    monkeypatch.setattr(service.workflow_service, "query_workflow", fake.query_workflow)
    monkeypatch.setattr(
        service.workflow_service, "describe_workflow_execution", fake.describe_workflow_execution
    )


async def _outcome(call: Awaitable[Any]) -> tuple[str, Any, int]:
    try:
        return ("answer", await call, 0)
    except CliError as error:
        return ("error", str(error), error.code)


async def _both(
    service: ServiceClient, converter: DataConverter, query: str, result_type: Any
) -> tuple[tuple[str, Any, int], tuple[str, Any, int]]:
    """The outcome through the SDK's ``Client`` (what ``idri status`` did before) and through
    :func:`query_case`."""
    client = Client(service, namespace=NAMESPACE, data_converter=converter)
    handle = client.get_workflow_handle(workflow_id(CASE))
    by_client = await _outcome(answer(client, CASE, handle.query(query, result_type=result_type)))
    connection = ServiceConnection(service, NAMESPACE, converter)
    lean = await _outcome(query_case(connection, CASE, query, result_type))
    return by_client, lean


def _answering(converter: DataConverter, value: Any) -> FakeServer:
    async def respond(req: QueryWorkflowRequest) -> QueryWorkflowResponse:
        response = QueryWorkflowResponse()
        response.query_result.payloads.extend(await converter.encode([value]))
        return response

    return FakeServer(respond)


@pytest.mark.parametrize(
    ("query", "result_type", "value"),
    [(STATUS_QUERY, CaseStatus, STATUS), (HISTORY_QUERY, list[HistoryEntry], HISTORY)],
    ids=["status", "history"],
)
async def test_the_same_request_gets_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
    service: ServiceClient,
    converter: DataConverter,
    query: str,
    result_type: Any,
    value: Any,
) -> None:
    fake = _answering(converter, value)
    _install(monkeypatch, service, fake)

    by_client, lean = await _both(service, converter, query, result_type)

    assert lean == by_client == ("answer", value, 0)
    (sdk_request, *sdk_options), (lean_request, *lean_options) = fake.queries
    assert lean_request == sdk_request
    assert lean_request.SerializeToString(deterministic=True) == sdk_request.SerializeToString(
        deterministic=True
    )
    assert lean_options == sdk_options == [True, {}, None]  # retried, no metadata, no timeout
    assert lean_request.execution.workflow_id == f"institute-{CASE}"
    assert lean_request.query.query_type == query


def _failing(error: RPCError) -> FakeServer:
    async def fail(req: QueryWorkflowRequest) -> QueryWorkflowResponse:
        raise error

    return FakeServer(fail)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            RPCError("query handler panicked: boom", RPCStatusCode.INVALID_ARGUMENT, b""),
            f"case {CASE} could not answer: query handler panicked: boom",
        ),
        (
            RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""),
            f"there is no case {CASE!r}; `idri list` shows the cases",
        ),
        (
            RPCError("namespace is busy", RPCStatusCode.RESOURCE_EXHAUSTED, b""),
            f"Temporal refused the call for case {CASE}: namespace is busy",
        ),
    ],
    ids=["query failed", "no such case", "refused"],
)
async def test_the_same_failure_gets_the_same_message(
    monkeypatch: pytest.MonkeyPatch,
    service: ServiceClient,
    converter: DataConverter,
    error: RPCError,
    expected: str,
) -> None:
    _install(monkeypatch, service, _failing(error))

    by_client, lean = await _both(service, converter, STATUS_QUERY, CaseStatus)

    assert lean == by_client == ("error", expected, 1)


async def test_a_closed_case_is_named_with_its_stage(
    monkeypatch: pytest.MonkeyPatch, service: ServiceClient, converter: DataConverter
) -> None:
    """Not found as a query target but described: the lean path falls back to the ``Client``."""
    fake = _failing(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))
    fake.describe_error = RPCError("no rights", RPCStatusCode.PERMISSION_DENIED, b"")
    _install(monkeypatch, service, fake)

    by_client, lean = await _both(service, converter, STATUS_QUERY, CaseStatus)

    assert lean == by_client == ("error", f"case {CASE} cannot be reached: no rights", 1)


async def test_no_answer_in_time_is_exit_status_3(
    monkeypatch: pytest.MonkeyPatch, service: ServiceClient, converter: DataConverter
) -> None:
    async def hang(req: QueryWorkflowRequest) -> QueryWorkflowResponse:
        await asyncio.sleep(60)
        raise AssertionError("not cancelled")

    _install(monkeypatch, service, FakeServer(hang))
    monkeypatch.setattr(common, "ANSWER_TIMEOUT_SECONDS", 0.05)

    by_client, lean = await _both(service, converter, STATUS_QUERY, CaseStatus)

    assert lean == by_client
    assert lean[0] == "error" and lean[2] == 3
    assert str(lean[1]).startswith(f"case {CASE} did not answer within 0.05s: is a worker running")
