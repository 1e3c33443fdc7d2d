"""The codec server decrypts for authorised callers and the Web UI's origin, and no one else."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

import idri.codec_server
from idri.codec import EncryptionCodec, generate_key
from idri.codec_server import (
    MAX_BODY_BYTES,
    CodecServer,
    cors_origins,
    is_loopback,
    make_server,
)
from idri.settings import Settings

TOKEN = "s3cret-token-for-tests"
UI = "http://localhost:8080"
KEYS = {"2026-01": generate_key()}
CONTACT = {"email": "li.si@example.com", "phone": "13900139000"}


def settings(*, token: str | None = TOKEN, keys: dict[str, str] | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        encryption_keys=KEYS if keys is None else keys,
        encryption_key_id=None,
        codec_auth_token=token,
        codec_cors_origin=f"{UI}, http://127.0.0.1:8080/",
    )


@contextmanager
def running(config: Settings) -> Iterator[CodecServer]:
    server = make_server(config, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    server: CodecServer,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection(*server.address, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json"} if data is not None else {}
    sent.update(headers or {})
    connection.request(method, path, body=data, headers=sent)
    response = connection.getresponse()
    answer = Answer(response.status, response.headers, response.read())
    connection.close()
    return answer


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def encrypted_contact() -> dict[str, Any]:
    codec = EncryptionCodec.from_settings(settings())
    assert codec is not None
    [clear] = await DataConverter.default.encode([CONTACT])
    [sealed] = await codec.encode([clear])
    return {"payloads": [json_format.MessageToDict(sealed)]}


def decoded_values(answer: Answer) -> list[Any]:
    payloads = [json_format.ParseDict(p, Payload()) for p in answer.json()["payloads"]]
    return [json.loads(p.data) for p in payloads]


# --- Authorised callers ------------------------------------------------------------------


async def test_an_authorised_caller_gets_the_decrypted_payloads() -> None:
    with running(settings()) as server:
        answer = call(server, "POST", "/decode", body=await encrypted_contact(), headers=bearer())
    assert answer.status == 200
    assert decoded_values(answer) == [CONTACT]
    assert answer.headers["Cache-Control"] == "no-store"


async def test_only_the_last_path_segment_selects_the_action() -> None:
    with running(settings()) as server:
        answer = call(
            server, "POST", "/idri/decode", body=await encrypted_contact(), headers=bearer()
        )
    assert answer.status == 200
    assert decoded_values(answer) == [CONTACT]


async def test_encode_then_decode_gives_back_the_payloads() -> None:
    [clear] = await DataConverter.default.encode([CONTACT])
    request = {"payloads": [json_format.MessageToDict(clear)]}
    with running(settings()) as server:
        encoded = call(server, "POST", "/encode", body=request, headers=bearer())
        assert encoded.status == 200
        assert b"li.si@example.com" not in encoded.body
        decoded = call(server, "POST", "/decode", body=encoded.json(), headers=bearer())
    assert decoded_values(decoded) == [CONTACT]


async def test_without_a_token_loopback_callers_are_served() -> None:
    with running(settings(token=None)) as server:
        answer = call(server, "POST", "/decode", body=await encrypted_contact())
    assert answer.status == 200
    assert decoded_values(answer) == [CONTACT]


# --- Everyone else -----------------------------------------------------------------------


async def test_a_caller_without_a_token_is_asked_for_one() -> None:
    with running(settings()) as server:
        answer = call(server, "POST", "/decode", body=await encrypted_contact())
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"li.si@example.com" not in answer.body


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN])
async def test_a_wrong_token_is_refused(header: str) -> None:
    with running(settings()) as server:
        answer = call(
            server,
            "POST",
            "/decode",
            body=await encrypted_contact(),
            headers={"Authorization": header},
        )
    assert answer.status == 403
    assert b"li.si@example.com" not in answer.body


async def test_without_a_token_other_machines_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idri.codec_server, "is_loopback", lambda host: False)
    with running(settings(token=None)) as server:
        answer = call(server, "POST", "/decode", body=await encrypted_contact())
    assert answer.status == 403
    assert "IDRI_CODEC_AUTH_TOKEN" in answer.json()["error"]


async def test_a_page_from_another_origin_is_refused_even_with_the_token() -> None:
    with running(settings()) as server:
        answer = call(
            server,
            "POST",
            "/decode",
            body=await encrypted_contact(),
            headers={**bearer(), "Origin": "http://evil.example"},
        )
    assert answer.status == 403
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("172.17.0.1", False),
        ("::ffff:192.168.1.2", False),
        ("localhost", False),
    ],
)
def test_loopback_means_this_machine_only(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


# --- The Web UI in a browser ---------------------------------------------------------------


def test_the_ui_origin_passes_the_cors_preflight() -> None:
    with running(settings()) as server:
        answer = call(
            server,
            "OPTIONS",
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == UI
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-namespace"} <= allowed


def test_another_origin_fails_the_preflight() -> None:
    with running(settings()) as server:
        answer = call(
            server,
            "OPTIONS",
            "/decode",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert answer.status == 403
    assert "Access-Control-Allow-Origin" not in answer.headers


async def test_answers_to_the_ui_carry_its_origin() -> None:
    with running(settings()) as server:
        answer = call(
            server,
            "POST",
            "/decode",
            body=await encrypted_contact(),
            headers={**bearer(), "Origin": UI, "X-Namespace": "idri"},
        )
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == UI


def test_several_ui_origins_may_be_configured() -> None:
    assert cors_origins(settings()) == {UI, "http://127.0.0.1:8080"}


# --- Bad requests ------------------------------------------------------------------------


async def test_a_payload_under_an_unknown_key_gets_a_clear_error() -> None:
    body = await encrypted_contact()
    with running(settings(keys={"2026-07": generate_key()})) as server:
        answer = call(server, "POST", "/decode", body=body, headers=bearer())
    assert answer.status == 400
    assert "'2026-01'" in answer.json()["error"]


def test_malformed_bodies_are_rejected() -> None:
    with running(settings()) as server:
        not_payloads = call(server, "POST", "/decode", body={"payload": 1}, headers=bearer())
        not_json = call(
            server,
            "POST",
            "/decode",
            body="x",
            headers={**bearer(), "Content-Type": "text/plain"},
        )
        elsewhere = call(server, "POST", "/inspect", body={"payloads": []}, headers=bearer())
    assert not_payloads.status == 400
    assert not_json.status == 415
    assert elsewhere.status == 404


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read() -> None:
    with running(settings()) as server:
        connection = http.client.HTTPConnection(*server.address, timeout=10)
        connection.putrequest("POST", "/decode")
        for name, value in {
            **bearer(),
            "Content-Type": "application/json",
            "Content-Length": str(MAX_BODY_BYTES + 1),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()  # and no body: the answer must not wait for it
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
    assert response.status == 413
    assert str(MAX_BODY_BYTES) in answer["error"]


def test_a_body_without_a_declared_length_is_refused() -> None:
    with running(settings()) as server:
        connection = http.client.HTTPConnection(*server.address, timeout=10)
        connection.request(
            "POST",
            "/decode",
            body=iter([b'{"payloads": []}']),
            headers={**bearer(), "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
    assert response.status == 411
    assert "Content-Length" in answer["error"]


def test_other_paths_and_methods_say_where_the_endpoints_are() -> None:
    with running(settings()) as server:
        elsewhere = call(server, "GET", "/decode")
        other_method = call(server, "PUT", "/idri/decode", headers=bearer())
    assert elsewhere.status == 404
    assert "POST /decode" in elsewhere.json()["error"]
    assert other_method.status == 405
    assert other_method.headers["Allow"] == "POST"
    assert "error" in other_method.json()


def test_it_listens_on_loopback_unless_told_otherwise() -> None:
    server = make_server(settings(), port=0)
    try:
        assert server.address[0] == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.address[1]}"
    finally:
        server.close()


def test_a_taken_port_is_reported_before_serving() -> None:
    with running(settings()) as server, pytest.raises(OSError):
        make_server(settings(), port=server.address[1])


def test_the_health_check_needs_no_token_and_reveals_nothing() -> None:
    with running(settings()) as server:
        answer = call(server, "GET", "/health")
    assert answer.status == 200
    assert answer.body == b"ok\n"
