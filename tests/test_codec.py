"""Case data is encrypted before it reaches Temporal, and keys rotate without losing old cases."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from idri.codec import (
    ENCODING,
    KEY_ID_METADATA,
    STRICT_CONVERTER,
    UNENCRYPTED_FAILURE_TYPE,
    DecryptionError,
    EncryptionCodec,
    EncryptionConfigError,
    MissingKeysError,
    UnknownKeyError,
    data_converter,
    generate_key,
    parse_key,
)
from idri.settings import Settings

CONTACT = {"name": "张三", "email": "zhang.san@example.com", "phone": "13800138000"}
SECRETS = (b"zhang.san@example.com", b"13800138000", "张三".encode())
OLD_KEY, NEW_KEY = generate_key(), generate_key()


def settings(keys: dict[str, str] | None = None, key_id: str | None = None) -> Settings:
    return Settings(_env_file=None, encryption_keys=keys or {}, encryption_key_id=key_id)  # type: ignore[call-arg]


def codec(keys: dict[str, str], key_id: str) -> EncryptionCodec:
    built = EncryptionCodec.from_settings(settings(keys, key_id))
    assert built is not None
    return built


def converter(keys: dict[str, str], key_id: str | None = None) -> DataConverter:
    return data_converter(settings(keys, key_id))


def assert_unreadable(raw: bytes) -> None:
    for secret in SECRETS:
        assert secret not in raw


async def test_roundtrip_returns_the_original_values() -> None:
    conv = converter({"2026-01": OLD_KEY})
    encoded = await conv.encode([CONTACT, 42, None])
    assert await conv.decode(encoded, [dict, int, type(None)]) == [CONTACT, 42, None]


async def test_encoded_payloads_are_unreadable_without_the_key() -> None:
    conv = converter({"2026-01": OLD_KEY})
    [payload] = await conv.encode([CONTACT])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"2026-01"
    assert_unreadable(payload.SerializeToString())
    # A codec holding other keys cannot read it at all.
    with pytest.raises(UnknownKeyError):
        await codec({"other": NEW_KEY}, "other").decode([payload])


async def test_the_same_key_id_with_another_key_fails_authentication() -> None:
    [payload] = await converter({"2026-01": OLD_KEY}).encode([CONTACT])
    impostor = codec({"2026-01": NEW_KEY}, "2026-01")
    with pytest.raises(DecryptionError, match="does not authenticate"):
        await impostor.decode([payload])


async def test_a_relabelled_payload_is_rejected() -> None:
    both = {"2026-01": OLD_KEY, "2026-07": OLD_KEY}
    [payload] = await codec(both, "2026-01").encode([Payload(data=b"x")])
    payload.metadata[KEY_ID_METADATA] = b"2026-07"
    with pytest.raises(DecryptionError):
        await codec(both, "2026-07").decode([payload])


async def test_encrypting_twice_gives_different_ciphertexts() -> None:
    conv = converter({"2026-01": OLD_KEY})
    [first] = await conv.encode([CONTACT])
    [second] = await conv.encode([CONTACT])
    assert first.data != second.data


async def test_after_rotation_old_payloads_decode_with_their_own_key() -> None:
    [old] = await converter({"2026-01": OLD_KEY}).encode([CONTACT])
    rotated = converter({"2026-01": OLD_KEY, "2026-07": NEW_KEY}, "2026-07")
    assert await rotated.decode([old], [dict]) == [CONTACT]
    [new] = await rotated.encode([CONTACT])
    assert new.metadata[KEY_ID_METADATA] == b"2026-07"


async def test_a_retired_key_gives_an_error_naming_it_and_what_to_do() -> None:
    [old] = await converter({"2026-01": OLD_KEY}).encode([CONTACT])
    without_old = converter({"2026-07": NEW_KEY})
    with pytest.raises(UnknownKeyError) as raised:
        await without_old.decode([old], [dict])
    assert raised.value.key_id == "2026-01"
    assert "'2026-01'" in str(raised.value)
    assert "IDRI_ENCRYPTION_KEYS" in str(raised.value)


async def test_with_keys_a_payload_in_clear_is_refused_naming_the_keys() -> None:
    [clear] = await DataConverter.default.encode([CONTACT])
    with pytest.raises(ApplicationError) as raised:
        await converter({"2026-01": OLD_KEY}).decode([clear], [dict])
    assert raised.value.type == UNENCRYPTED_FAILURE_TYPE
    assert raised.value.non_retryable
    assert "IDRI_ENCRYPTION_KEYS" in raised.value.message


async def test_payloads_written_before_encryption_decode_while_clear_is_accepted() -> None:
    [clear] = await DataConverter.default.encode([CONTACT])
    migrating = Settings(  # type: ignore[call-arg]
        _env_file=None, encryption_keys={"2026-01": OLD_KEY}, encryption_accept_clear=True
    )
    assert await data_converter(migrating).decode([clear], [dict]) == [CONTACT]


async def test_without_keys_an_encrypted_payload_says_the_keys_are_missing() -> None:
    [sealed] = await converter({"2026-01": OLD_KEY}).encode([CONTACT])
    with pytest.raises(MissingKeysError, match="IDRI_ENCRYPTION_KEYS"):
        await STRICT_CONVERTER.decode([sealed], [dict])


def test_without_keys_the_shared_strict_converter_is_used_unencrypted() -> None:
    assert data_converter(settings()) is STRICT_CONVERTER


def test_with_keys_failure_messages_are_encoded_too() -> None:
    conv = converter({"2026-01": OLD_KEY})
    assert isinstance(conv.payload_codec, EncryptionCodec)
    assert conv.failure_converter_class is DefaultFailureConverterWithEncodedAttributes


def test_one_key_needs_no_key_id_but_several_do() -> None:
    assert codec({"only": OLD_KEY}, "only").current_key_id == "only"
    single = EncryptionCodec.from_settings(settings({"only": OLD_KEY}))
    assert single is not None and single.current_key_id == "only"
    with pytest.raises(EncryptionConfigError, match="IDRI_ENCRYPTION_KEY_ID"):
        EncryptionCodec.from_settings(settings({"a": OLD_KEY, "b": NEW_KEY}))


def test_an_empty_key_id_counts_as_unset() -> None:
    single = EncryptionCodec.from_settings(settings({"only": OLD_KEY}, ""))
    assert single is not None and single.current_key_id == "only"
    assert EncryptionCodec.from_settings(settings({}, "")) is None


def test_the_current_key_id_must_name_a_configured_key() -> None:
    with pytest.raises(EncryptionConfigError, match="'2027-01'"):
        EncryptionCodec.from_settings(settings({"2026-01": OLD_KEY}, "2027-01"))
    with pytest.raises(EncryptionConfigError, match="IDRI_ENCRYPTION_KEYS is empty"):
        EncryptionCodec.from_settings(settings({}, "2026-01"))


@pytest.mark.parametrize(
    "bad",
    ["REPLACE_WITH_A_GENERATED_KEY", base64.b64encode(b"too short").decode(), "not base64!"],
)
def test_malformed_keys_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(EncryptionConfigError) as raised:
        parse_key("2026-01", bad)
    assert "'2026-01'" in str(raised.value)
    assert bad not in str(raised.value)


def test_generated_keys_are_random_256_bit_keys() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(parse_key("k", first)) == 32
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(first)).decode()
    assert parse_key("k", urlsafe) == base64.b64decode(first)


# --- What the Temporal server stores --------------------------------------------------------


@workflow.defn(sandboxed=False)
class EchoContact:
    """A stand-in for a case workflow: returns the contact it is given, or fails quoting it."""

    @workflow.run
    async def run(self, contact: dict[str, str], fail: bool) -> dict[str, str]:
        if fail:
            raise ApplicationError(f"cannot reach {contact['email']}", non_retryable=True)
        return contact


async def run_echo(client: Client, raw_client: Client, *, fail: bool) -> bytes:
    """Run :class:`EchoContact` through ``client``; the history as the server stores it."""
    async with Worker(client, task_queue="codec-test", workflows=[EchoContact]):
        handle = await client.start_workflow(
            EchoContact.run,
            args=[CONTACT, fail],
            id=f"codec-{uuid.uuid4()}",
            task_queue="codec-test",
            execution_timeout=timedelta(minutes=1),
        )
        if fail:
            with pytest.raises(WorkflowFailureError) as raised:
                await handle.result()
            # The caller, holding the key, still reads the whole message.
            assert isinstance(raised.value.cause, ApplicationError)
            assert "zhang.san@example.com" in raised.value.cause.message
        else:
            assert await handle.result() == CONTACT
    # Read back raw: through a plain client, without any codec.
    history = await raw_client.get_workflow_handle(handle.id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


def with_converter(client: Client, conv: DataConverter) -> Client:
    config = client.config()
    config["data_converter"] = conv
    return Client(**config)


async def test_the_server_history_holds_only_ciphertext(time_env: WorkflowEnvironment) -> None:
    encrypted = with_converter(time_env.client, converter({"2026-01": OLD_KEY}))
    assert_unreadable(await run_echo(encrypted, time_env.client, fail=False))
    # The same check finds the contact in a history written without the codec.
    clear = await run_echo(time_env.client, time_env.client, fail=False)
    assert b"zhang.san@example.com" in clear


async def test_failure_messages_reach_the_server_encrypted(time_env: WorkflowEnvironment) -> None:
    encrypted = with_converter(time_env.client, converter({"2026-01": OLD_KEY}))
    assert b"zhang.san@example.com" not in await run_echo(encrypted, time_env.client, fail=True)
