"""Rule: payloads are read as they were written. Temporal's default JSON converter changes a
value to fit its type hint (``true`` becomes the score 1.0, ``2.5`` the whole number 2, a string
the list of its characters); idri's shared converter refuses those values, naming the field and
the value, with or without encryption, and reads every well-typed payload as before."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from idri.codec import (
    ENCODING,
    STRICT_CONVERTER,
    EncryptionCodec,
    PayloadTypeError,
    StrictPayloadConverter,
    data_converter,
    generate_key,
)
from idri.settings import Settings
from models import case, duplicates, records, schedules, search
from models.case import (
    Actor,
    Contact,
    ExpertReview,
    ObjectionResolution,
    Policy,
    Role,
    Stage,
    SurveyRecord,
)
from models.time import CST
from tests.conftest import venv_binary
from tests.lifecycle.harness import harness
from tests.registry.registry_builders import Script

KEYS = {"2026-01": generate_key()}
ACTOR = {"name": "张教授", "role": "expert", "district": None}
REVIEW = {"actor": ACTOR, "expert": "张教授", "score": 88, "opinion": "可行"}
RESOLUTION = {"actor": ACTOR, "upheld": True, "reason": "调查结论", "objection_id": None}
SURVEY = {
    "case_id": "c1",
    "organisation": "天津某装备制造有限公司",
    "district": "binhai",
    "direction": "ai",
    "actor": ACTOR,
}


def settings(keys: dict[str, str] | None = None) -> Settings:
    return Settings(_env_file=None, encryption_keys=keys or {})  # type: ignore[call-arg]


def json_payload(value: Any) -> Payload:
    """A payload as a client in any language sending this JSON by hand would write it."""
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def read(converter: DataConverter, value: Any, hint: type) -> Any:
    [decoded] = converter.payload_converter.from_payloads([json_payload(value)], [hint])
    return decoded


# Each: the type hint, the JSON, the error the caller reads.
COERCIONS = [
    pytest.param(
        ExpertReview,
        REVIEW | {"score": True},
        "ExpertReview.score: expected a number (float), got the JSON boolean true",
        id="true for a float",
    ),
    pytest.param(
        ExpertReview,
        REVIEW | {"score": False},
        "ExpertReview.score: expected a number (float), got the JSON boolean false",
        id="false for a float",
    ),
    pytest.param(
        ObjectionResolution,
        RESOLUTION | {"objection_id": True},
        "ObjectionResolution.objection_id: expected a whole number (int), got the JSON boolean "
        "true",
        id="true for an int | None",
    ),
    pytest.param(
        ObjectionResolution,
        RESOLUTION | {"objection_id": 2.5},
        "ObjectionResolution.objection_id: expected a whole number (int), got the number 2.5",
        id="a fraction for an int",
    ),
    pytest.param(
        Policy,
        {"reminder_lead_days": [30, True]},
        "Policy.reminder_lead_days[1]: expected a whole number (int), got the JSON boolean true",
        id="true in a list[int]",
    ),
    pytest.param(
        Policy,
        {"notice_override_seconds": False},
        "Policy.notice_override_seconds: expected a number (float), got the JSON boolean false",
        id="false for a float | None",
    ),
    pytest.param(
        SurveyRecord,
        SURVEY | {"qualifications": "市级工业设计中心"},
        "SurveyRecord.qualifications: expected a list (list[str]), got a JSON string "
        "(8 characters)",
        id="a string for a list[str]",
    ),
    pytest.param(
        SurveyRecord,
        SURVEY | {"qualifications": {"市级工业设计中心": True}},
        "SurveyRecord.qualifications: expected a list (list[str]), got a JSON object (1 key)",
        id="an object for a list[str]",
    ),
]


@pytest.mark.parametrize(("hint", "value", "error"), COERCIONS)
def test_values_the_default_converter_would_change_are_refused(
    hint: type, value: Any, error: str
) -> None:
    with pytest.raises(PayloadTypeError) as raised:
        read(STRICT_CONVERTER, value, hint)
    assert str(raised.value) == error


@pytest.mark.parametrize(("hint", "value", "error"), COERCIONS)
def test_the_default_converter_does_change_them(hint: type, value: Any, error: str) -> None:
    """Why the strict converter exists: if an SDK upgrade makes this fail, Temporal refuses
    these values itself."""
    read(DataConverter.default, value, hint)


@pytest.mark.parametrize(
    ("hint", "value", "error"),
    [
        pytest.param(
            ExpertReview,
            REVIEW | {"score": "88"},
            "ExpertReview.score: expected a number (float), got a JSON string (2 characters)",
            id="a string for a float",
        ),
        pytest.param(
            ExpertReview,
            REVIEW | {"expert": 7},
            "ExpertReview.expert: expected a string (str), got the number 7",
            id="a number for a str",
        ),
        pytest.param(
            ExpertReview,
            REVIEW | {"expert": True},
            "ExpertReview.expert: expected a string (str), got the JSON boolean true",
            id="a boolean for a str",
        ),
        pytest.param(
            ExpertReview,
            REVIEW | {"opinion": ["可行"]},
            "ExpertReview.opinion: expected a string (str), got a JSON array (1 item)",
            id="a list for a str",
        ),
        pytest.param(
            ObjectionResolution,
            RESOLUTION | {"upheld": 1},
            "ObjectionResolution.upheld: expected a boolean (bool), got the number 1",
            id="a number for a bool",
        ),
        pytest.param(
            ExpertReview,
            REVIEW | {"actor": ACTOR | {"role": "pirate"}},
            "ExpertReview.actor.role: expected one of district_officer, bureau_officer, expert, "
            "applicant, system (Role), got a JSON string (6 characters)",
            id="an unknown enum value",
        ),
        pytest.param(
            ExpertReview,
            REVIEW | {"expert": None},
            "ExpertReview.expert: expected a string (str), got null",
            id="null for a str",
        ),
        pytest.param(
            ExpertReview,
            {key: value for key, value in REVIEW.items() if key != "score"},
            "ExpertReview: missing the required field score",
            id="a missing field",
        ),
        pytest.param(
            ExpertReview,
            [REVIEW],
            "ExpertReview: expected an object (ExpertReview), got a JSON array (1 item)",
            id="a list for a dataclass",
        ),
    ],
)
def test_what_the_default_converter_refuses_is_refused_with_its_path(
    hint: type, value: Any, error: str
) -> None:
    with pytest.raises(PayloadTypeError) as raised:
        read(STRICT_CONVERTER, value, hint)
    assert str(raised.value) == error
    with pytest.raises(TypeError):
        read(DataConverter.default, value, hint)


def test_lossless_conversions_still_happen() -> None:
    """A whole number is a score; 3.0 (as JavaScript or Go may write 3) is objection no. 3."""
    review = read(STRICT_CONVERTER, REVIEW, ExpertReview)
    assert review.score == 88 and type(review.score) is float
    resolution = read(STRICT_CONVERTER, RESOLUTION | {"objection_id": 3.0}, ObjectionResolution)
    assert resolution.objection_id == 3 and type(resolution.objection_id) is int
    assert read(STRICT_CONVERTER, RESOLUTION, ObjectionResolution).objection_id is None


@pytest.mark.parametrize("keys", [None, KEYS], ids=["plain", "encrypted"])
async def test_idri_payloads_round_trip(keys: dict[str, str] | None) -> None:
    converter = data_converter(settings(keys))
    values = [
        SurveyRecord(
            "c1",
            "天津某装备制造有限公司",
            "binhai",
            "ai",
            Actor("王科长", Role.DISTRICT_OFFICER, "binhai"),
            Contact("赵经理", "zhao@example.cn", None),
            ["市级工业设计中心", "国家级工业设计中心"],
        ),
        ExpertReview(Actor("张教授", Role.EXPERT), "张教授", 88.5, "可行"),
        ObjectionResolution(Actor("李处长"), False, "不成立", 2),
        Policy(notice_override_seconds=30),
        Stage.PUBLIC_NOTICE,
    ]
    encoded = await converter.encode(values)
    if keys:
        assert all(p.metadata["encoding"] == ENCODING for p in encoded)
    assert await converter.decode(encoded, [type(v) for v in values]) == values


def test_the_shared_converter_is_strict_with_or_without_keys() -> None:
    assert data_converter(settings()) is STRICT_CONVERTER
    encrypted = data_converter(settings(KEYS))
    assert encrypted.payload_converter_class is StrictPayloadConverter
    assert isinstance(encrypted.payload_codec, EncryptionCodec)


@pytest.mark.parametrize("keys", [None, KEYS], ids=["plain", "encrypted"])
async def test_idri_clients_and_workers_read_strictly(
    time_env: WorkflowEnvironment, keys: dict[str, str] | None
) -> None:
    """``idri.client.connect`` (the CLI's and the worker's client) uses the shared converter:
    the worker decodes update arguments with its client's converter."""
    from idri.client import connect

    address = time_env.client.service_client.config.target_host
    client = await connect(settings(keys).model_copy(update={"temporal_address": address}))
    assert client.data_converter.payload_converter_class is StrictPayloadConverter
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec) is bool(keys)


async def test_an_encrypted_true_is_refused_too() -> None:
    converter = data_converter(settings(KEYS))
    encoded = await converter.encode(
        [ExpertReview(Actor("张教授", Role.EXPERT), "张教授", True, "")]
    )
    assert encoded[0].metadata["encoding"] == ENCODING
    with pytest.raises(PayloadTypeError, match=r"^ExpertReview\.score: .* boolean true$"):
        await converter.decode(encoded, [ExpertReview])


# --- End to end, encrypted --------------------------------------------------------------------


@pytest.fixture
async def encrypted_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server whose client and worker encrypt, as ``idri up`` with keys does."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=data_converter(settings(KEYS)),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: int(k.indexed_value_type.value) for k in search.ALL},  # type: ignore[misc]
        )
    )
    async with env:
        yield env


async def test_with_encryption_a_score_of_true_is_refused_and_the_case_goes_on(
    encrypted_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with harness(encrypted_env, tmp_path) as h:
        case = await h.start("天津加密样本装备有限公司")
        await case.submit_plan()
        await case.recommend()
        await case.assign("张教授", "天津大学")
        before = await case.status()
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await case.review("张教授", True)
        refusal = raised.value.cause
        assert isinstance(refusal, ApplicationError)
        assert (refusal.type, refusal.message) == ("RuntimeError", "Failed decoding arguments")
        # The failure reached the server encrypted; this client, holding the key, reads it whole.
        assert isinstance(refusal.cause, ApplicationError)
        assert (refusal.cause.type, refusal.cause.message) == (
            "PayloadTypeError",
            "ExpertReview.score: expected a number (float), got the JSON boolean true",
        )
        after = await case.status()
        assert (after.stage, after.history_length) == (Stage.UNDER_REVIEW, before.history_length)
        assert [r.score for r in after.reviews] == [None]
        # The worker is unaffected: the same expert's real score is taken.
        reviewed = await case.review("张教授", 88)
        assert [r.score for r in reviewed.reviews] == [88.0]


# --- Read as the default converter reads, or refused ---------------------------------------------
# The strict converter only guards the default conversion: every payload it lets through reads
# exactly as before, and what either refuses it refuses naming the path to the bad value.

PAYLOAD_TYPES = sorted(
    (
        cls
        for module in (case, duplicates, records, schedules)
        for cls in vars(module).values()
        if isinstance(cls, type)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == module.__name__
        # Rule tables (lifecycle guards) hold functions; they never travel as payloads.
        and not any(typing.get_origin(h) is Callable for h in typing.get_type_hints(cls).values())
    ),
    key=lambda cls: cls.__qualname__,
)
"""Every model dataclass: workflow and activity inputs and results, update arguments."""


def _deferred(hint: Any) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: values_of(hint))


def values_of(hint: Any) -> st.SearchStrategy[Any]:
    """Any value of a payload type hint, every field filled (not only the required ones)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = {f.name: _deferred(hints[f.name]) for f in dataclasses.fields(hint)}
        return st.builds(hint, **fields)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values_of(arm) for arm in args))
    if origin is list:
        return st.lists(values_of(args[0]), max_size=3)
    if origin is tuple and args[1:] == (...,):
        return st.lists(values_of(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), values_of(args[1]), max_size=3)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(hint)
    if hint is datetime:
        return st.datetimes(timezones=st.sampled_from([None, UTC, CST]))
    simple = {str: st.text(max_size=8), int: st.integers(), float: st.floats(), bool: st.booleans()}
    if hint is type(None) or hint in simple:
        return st.none() if hint is type(None) else simple[hint]
    raise NotImplementedError(f"no payload values for {hint!r}")


def typed(value: Any) -> Any:
    """``value`` with the type of every part, so ``1``, ``1.0`` and ``True`` differ (and a NaN
    equals a NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value), [
            (f.name, typed(getattr(value, f.name))) for f in dataclasses.fields(value)
        ]
    if isinstance(value, list | tuple):
        return type(value), [typed(item) for item in value]
    if isinstance(value, dict):
        return type(value), [(typed(k), typed(v)) for k, v in value.items()]
    return type(value), repr(value)


def written(value: Any) -> Any:
    """The JSON Temporal writes for ``value``."""
    [payload] = DataConverter.default.payload_converter.to_payloads([value])
    return json.loads(payload.data)


def nodes(json_value: Any, decoded: Any, path: str) -> Iterator[tuple[str, list[Any]]]:
    """Every value inside a payload: its path as errors name it, and the keys leading to it."""
    yield path, []
    if dataclasses.is_dataclass(decoded):
        children = [(f".{name}", name, getattr(decoded, name)) for name in json_value]
    elif isinstance(decoded, dict):
        children = [(f"[{key!r}]", key, decoded[key]) for key in json_value]
    elif isinstance(decoded, list | tuple):
        children = [(f"[{i}]", i, item) for i, item in enumerate(decoded)]
    else:
        return
    for step, key, child in children:
        for inner, keys in nodes(json_value[key], child, path + step):
            yield inner, [key, *keys]


def replaced(json_value: Any, keys: list[Any], new: Any) -> Any:
    if not keys:
        return new
    copy = json_value.copy()
    copy[keys[0]] = replaced(json_value[keys[0]], keys[1:], new)
    return copy


WRONG_VALUES = [
    True,
    False,
    0,
    7,
    2.5,
    3.0,
    -1e300,
    "",
    "x",
    "2026-13-01",
    None,
    [],
    ["x"],
    [1.5],
    {},
    {"k": 1},
]


@given(data=st.data())
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_payload_reads_as_the_default_converter_reads_it(data: st.DataObject) -> None:
    hint = data.draw(st.sampled_from(PAYLOAD_TYPES))
    value = written(data.draw(values_of(hint)))
    assert typed(read(STRICT_CONVERTER, value, hint)) == typed(
        read(DataConverter.default, value, hint)
    )


@given(data=st.data())
@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_wrong_value_anywhere_is_read_as_before_or_refused_naming_its_path(
    data: st.DataObject,
) -> None:
    """Whatever one value is replaced with: the strict converter reads the payload exactly as the
    default converter does, or refuses it with an error naming the path to that value (never
    reading what the default converter refuses)."""
    hint = data.draw(st.sampled_from(PAYLOAD_TYPES))
    value = written(data.draw(values_of(hint)))
    decoded = read(DataConverter.default, value, hint)
    path, keys = data.draw(st.sampled_from(list(nodes(value, decoded, hint.__name__))))
    wrong = replaced(value, keys, data.draw(st.sampled_from(WRONG_VALUES)))
    try:
        expected = typed(read(DataConverter.default, wrong, hint))
    except Exception:
        expected = None
    try:
        got = typed(read(STRICT_CONVERTER, wrong, hint))
    except PayloadTypeError as error:
        where = str(error).split(": ")[0]
        assert where == path or where.startswith((f"{path}.", f"{path}[")), str(error)
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("hint", "value", "error"),
    [
        pytest.param(
            case.InstituteInput,
            {
                "survey": SURVEY,
                "carried": {
                    "survey": SURVEY,
                    "created_at": "2026-01-05T10:00:00+08:00",
                    "reviews": [
                        {"expert": "张教授", "organisation": "天津大学", "score": 88},
                        {"expert": "陈工", "organisation": "河北工业大学", "score": True},
                    ],
                },
            },
            "InstituteInput.carried.reviews[1].score: expected a number (float), got the JSON "
            "boolean true",
            id="in a list in an optional dataclass",
        ),
        pytest.param(
            records.EventRecord,
            written(Script("c1").event("submit_review")) | {"details": {"score": 88}},
            "EventRecord.details['score']: expected a string (str), got the number 88",
            id="in a dict[str, str]",
        ),
        pytest.param(
            records.EventRecord,
            written(Script("c1").event("submit_review")) | {"seq": 1.5},
            "EventRecord.seq: expected a whole number (int), got the number 1.5",
            id="a fraction for an int",
        ),
        pytest.param(
            records.EventRecord,
            written(Script("c1").event("submit_review")) | {"at": "next tuesday"},
            "EventRecord.at: expected an ISO 8601 date and time (datetime), got a JSON string "
            "(12 characters)",
            id="not a datetime",
        ),
        pytest.param(
            records.EventRecord,
            {"key": "k"},
            "EventRecord: missing the required fields workflow_id, run_id, seq, at, event, "
            "from_stage, to_stage, actor, role, reason, snapshot",
            id="missing fields",
        ),
    ],
)
def test_a_nested_bad_value_is_named_by_its_path(hint: type, value: Any, error: str) -> None:
    with pytest.raises(PayloadTypeError) as raised:
        read(STRICT_CONVERTER, value, hint)
    assert str(raised.value) == error


@dataclass
class Counted:
    name: str
    tally: int = field(init=False, default=0)
    tags: tuple[str, ...] = ()


def test_fields_outside_init_are_restored_and_unknown_keys_ignored() -> None:
    value = {"name": "a", "tally": 3, "tags": ["x", "y"], "unknown": True}
    counted = read(STRICT_CONVERTER, value, Counted)
    assert (counted.name, counted.tally, counted.tags) == ("a", 3, ("x", "y"))
    assert typed(counted) == typed(read(DataConverter.default, value, Counted))


def test_fields_outside_init_are_read_strictly_too() -> None:
    with pytest.raises(PayloadTypeError) as raised:
        read(STRICT_CONVERTER, {"name": "a", "tally": True}, Counted)
    assert (
        str(raised.value)
        == "Counted.tally: expected a whole number (int), got the JSON boolean true"
    )
