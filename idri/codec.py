"""Case data leaves this process encrypted: an AES-GCM payload codec whose keys can rotate.

Every payload a client or worker hands to Temporal (workflow and activity inputs and results,
update, signal and query arguments, memos, and, with :func:`data_converter`, failure messages)
passes through :class:`EncryptionCodec`. The Temporal server therefore stores only ciphertext:
contact persons, e-mail addresses, phone numbers, experts' opinions and objectors' identities
never reach it in clear. Search attributes are indexed by the server and are *not* payloads, so
the codec cannot protect them: they carry codes and dates only (see ``models/search.py``).

An encrypted payload looks like this::

    metadata: encoding = "binary/encrypted", encryption-key-id = "<key id>"
    data:     12-byte random nonce || AES-256-GCM(original Payload's protobuf bytes)

The key id is also the GCM associated data, so a payload relabelled with another key id fails
authentication instead of decrypting to garbage.

With keys configured, encryption is enforced, not only offered: a payload that arrives in clear
was sent by a client without the keys, so the codec does not pass it on. It becomes a
placeholder (:data:`REFUSED_ENCODING`, the clear data dropped) that the payload converter turns
into a non-retryable ``ApplicationError`` of type :data:`UNENCRYPTED_FAILURE_TYPE`: an update
sent in clear is rejected before its validator runs, and a case started in clear fails before
its first step, so nothing reaches the registry or the public pages. The other way round, a
client or worker *without* keys that meets an encrypted payload raises
:class:`MissingKeysError` naming ``IDRI_ENCRYPTION_KEYS`` (on a worker, a workflow task failure
that is retried, so a misconfigured worker cannot fail a case). A deployment that ran without
encryption and still has open cases from then sets ``IDRI_ENCRYPTION_ACCEPT_CLEAR=true`` until
those cases are closed.

Keys rotate without re-encrypting history: ``IDRI_ENCRYPTION_KEYS`` maps every key id still
needed to its key, ``IDRI_ENCRYPTION_KEY_ID`` names the one new payloads use, and a payload is
always decrypted with the key its own metadata names. Roll a new key out in two steps: add it to
the key set of every worker, client and codec server first, then switch the current key id.

Payloads are also read strictly (:class:`StrictPayloadConverter`): Temporal's default JSON
converter quietly turns ``true`` into ``1.0`` for a ``float`` field, ``2.5`` into ``2`` for an
``int`` field and a string into the list of its characters for a ``list[str]`` field, so a client
sending JSON by hand could slip a value past a validator that never sees the original. Here each
of those, like any value that does not fit at all, is a :class:`PayloadTypeError` naming the path
to the value and what it is instead; everything else is the SDK's own conversion.

This module is imported by entry points only (clients, workers, the codec server), never by
workflow code.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import inspect
import itertools
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
    value_to_type,
)
from temporalio.exceptions import ApplicationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from idri.settings import Settings

# cryptography is imported by the codec itself, when there are keys: a client or worker without
# encryption imports this module for its strict converter only.

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""
KEY_ID_METADATA = "encryption-key-id"
"""Metadata entry naming the key a payload was encrypted with."""
KEY_BYTES = 32
"""AES-256."""
_NONCE_BYTES = 12

REFUSED_ENCODING = b"binary/refused-unencrypted"
"""The ``encoding`` of the placeholder the codec puts where a payload arrived in clear."""
CLEAR_ENCODING_METADATA = "idri-clear-encoding"
"""Placeholder metadata: the encoding the refused clear payload had (its data is dropped)."""
UNENCRYPTED_FAILURE_TYPE = "UnencryptedPayload"
"""``ApplicationError.type`` of the failure a clear payload causes where keys are configured."""
KEYS_NEEDED = (
    "this idri deployment encrypts case data, so every client and worker needs its keys: set "
    "IDRI_ENCRYPTION_KEYS (and IDRI_ENCRYPTION_KEY_ID when there are several) as the workers "
    "have them, then try again"
)


class EncryptionConfigError(ValueError):
    """The encryption settings cannot work (bad key, unknown current key id)."""


class DecryptionError(ValueError):
    """An encrypted payload could not be decrypted."""


class MissingKeysError(DecryptionError):
    """An encrypted payload reached a client or worker that has no keys at all."""

    def __init__(self) -> None:
        super().__init__(f"a payload is encrypted but no keys are configured: {KEYS_NEEDED}")


class UnknownKeyError(DecryptionError):
    """A payload names a key id that is not among the configured keys."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        self.key_id = key_id
        self.known = tuple(known)
        super().__init__(
            f"this payload was encrypted with key id {key_id!r}, which is not in "
            f"IDRI_ENCRYPTION_KEYS (configured: {', '.join(self.known) or 'none'}). "
            f"Add the key {key_id!r} back to IDRI_ENCRYPTION_KEYS of every worker, client and "
            "codec server: keys must stay as long as any history still holds payloads they "
            "encrypted. Nothing is lost: a worker retries the task once the key is back."
        )


def generate_key() -> str:
    """A fresh random AES-256 key, base64-encoded, ready for ``IDRI_ENCRYPTION_KEYS``."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(key_id: str, encoded: str) -> bytes:
    """The 32 key bytes of ``encoded`` (standard or URL-safe base64).

    Raises:
        EncryptionConfigError: naming the key id (never the key) when it is not base64 of
            exactly 32 bytes.
    """
    # Accept the URL-safe alphabet too, but validate strictly: a typo must not become a key.
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        raw: bytes | None = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) != KEY_BYTES:
        found = "not base64" if raw is None else f"{len(raw)} bytes"
        raise EncryptionConfigError(
            f"encryption key {key_id!r} in IDRI_ENCRYPTION_KEYS must be base64 of {KEY_BYTES} "
            f"random bytes, but it is {found}; generate one with `python -m idri.codec`"
        )
    return raw


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads, with the key id in each payload's metadata.

    Args:
        keys: Key id → 32-byte key; every key still needed to read old payloads.
        current_key_id: The key new payloads are encrypted with; must be in ``keys``.
        accept_clear: Pass payloads that arrive in clear through instead of refusing them;
            only while cases started before encryption was switched on are still open.
    """

    def __init__(
        self, keys: Mapping[str, bytes], *, current_key_id: str, accept_clear: bool = False
    ) -> None:
        if not keys:
            raise EncryptionConfigError("an encryption codec needs at least one key")
        for key_id, key in keys.items():
            if not key_id:
                raise EncryptionConfigError("an encryption key id must not be empty")
            if len(key) != KEY_BYTES:
                raise EncryptionConfigError(
                    f"encryption key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
        if current_key_id not in keys:
            raise EncryptionConfigError(
                f"IDRI_ENCRYPTION_KEY_ID is {current_key_id!r}, but IDRI_ENCRYPTION_KEYS only "
                f"has {', '.join(sorted(keys))}; name one of them, or add that key"
            )
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._ciphers: dict[str, AESGCM] = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current_key_id = current_key_id
        self.accept_clear = accept_clear

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec | None:
        """The codec the settings describe, or None when no keys are configured.

        With exactly one key, ``IDRI_ENCRYPTION_KEY_ID`` may be left unset.

        Raises:
            EncryptionConfigError: when a key is malformed or the current key id is missing.
        """
        encoded = settings.encryption_keys
        current = settings.encryption_key_id or None
        if not encoded:
            if current:
                raise EncryptionConfigError(
                    f"IDRI_ENCRYPTION_KEY_ID is {current!r} but IDRI_ENCRYPTION_KEYS is empty; "
                    'add the key (JSON: {"<id>": "<base64>"})'
                )
            return None
        if current is None:
            if len(encoded) > 1:
                raise EncryptionConfigError(
                    f"IDRI_ENCRYPTION_KEYS has {len(encoded)} keys "
                    f"({', '.join(sorted(encoded))}); set IDRI_ENCRYPTION_KEY_ID to the one "
                    "new payloads should use"
                )
            current = next(iter(encoded))
        keys = {key_id: parse_key(key_id, value) for key_id, value in encoded.items()}
        return cls(keys, current_key_id=current, accept_clear=settings.encryption_accept_clear)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id this codec can decrypt."""
        return tuple(sorted(self._ciphers))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload whole (data and metadata) with the current key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads with the key each names; refuse payloads in clear.

        A clear payload becomes a :data:`REFUSED_ENCODING` placeholder, which the payload
        converter refuses with an error naming ``IDRI_ENCRYPTION_KEYS``; with ``accept_clear``
        it is passed through unchanged (payloads written before encryption was switched on).

        Raises:
            UnknownKeyError: when a payload names a key id that is not configured.
            DecryptionError: when a payload fails authentication (wrong key, altered data).
        """
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted with the current key."""
        key_id = self.current_key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), key_id.encode("utf-8")
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("utf-8")},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload in clear; a payload that arrived in clear is refused (see :meth:`decode`)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload if self.accept_clear else _refused(payload)
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise DecryptionError(
                f"an encrypted payload has no {KEY_ID_METADATA!r} metadata, so no key can be "
                "chosen for it; it was not written by idri's codec"
            )
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id, self.key_ids)
        data = payload.data
        if len(data) <= _NONCE_BYTES:
            raise DecryptionError(f"an encrypted payload (key id {key_id!r}) is truncated")
        from cryptography.exceptions import InvalidTag

        try:
            clear = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise DecryptionError(
                f"a payload encrypted with key id {key_id!r} does not authenticate: the key "
                f"configured under {key_id!r} is not the one it was written with (was that "
                "id reused for a new key?), or the payload was altered"
            ) from None
        return Payload.FromString(clear)


def _refused(clear: Payload) -> Payload:
    """The placeholder for a payload that arrived in clear: its encoding kept, its data dropped
    (the workflow must not act on it, and nothing further should copy it)."""
    encoding = clear.metadata.get("encoding", b"")
    return Payload(metadata={"encoding": REFUSED_ENCODING, CLEAR_ENCODING_METADATA: encoding})


class _RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads the codec's placeholder for a clear payload as the failure the sender must see.

    Non-retryable ``ApplicationError``: inside a workflow, an update is rejected with it and a
    start fails the workflow with it, instead of a workflow task failing again and again.
    """

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None  # never writes: only the codec makes placeholders

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        clear = payload.metadata.get(CLEAR_ENCODING_METADATA, b"").decode(errors="replace")
        raise ApplicationError(
            f"refused: data arrived unencrypted (encoding {clear or 'none'}), so the client "
            f"that sent it has no encryption keys; {KEYS_NEEDED}",
            type=UNENCRYPTED_FAILURE_TYPE,
            non_retryable=True,
        )


class _EncryptedWithoutKeysConverter(EncodingPayloadConverter):
    """Reads an encrypted payload that no codec decrypted: this process has no keys."""

    @property
    def encoding(self) -> str:
        return ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None  # never writes: only the codec encrypts

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        # Not an ApplicationError: a worker without keys fails the workflow task (retried,
        # ideally by a worker that has them), never the case itself.
        raise MissingKeysError()


# --- Reading payloads strictly ------------------------------------------------------------------


class PayloadTypeError(TypeError):
    """A payload's JSON does not have the type its type hint asks for, or converting it would
    change its meaning (``true`` for a number, ``2.5`` for a whole number, a string for a list).

    Raised while decoding. An update whose argument raises it is rejected before its validator
    runs (the caller's failure is ``RuntimeError: Failed decoding arguments``, caused by this
    error with its message); elsewhere the SDK treats it like any decoding failure (a workflow
    task failure, retried once the data or the code is fixed).
    """


def _check(hint: Any, value: Any, path: str) -> None:
    """Refuse ``value`` (parsed JSON) unless the SDK reads it as ``hint`` without changing it.

    Containers are walked here, so that an error names the path to the bad value; whether a
    leaf converts at all is the SDK's own ``value_to_type``'s call.
    """
    if hint is Any or isinstance(hint, typing.TypeVar):
        return
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        _check_union(hint, args, value, path)
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        _check_dataclass(hint, value, path)
    elif _is_class(origin or hint, Mapping):
        if not isinstance(value, dict):
            _refuse(path, f"an object ({_type_name(hint)})", value)
        for key, item in value.items():
            _check(args[1] if len(args) == 2 else Any, item, f"{path}[{key!r}]")
    elif _is_class(origin or hint, Iterable) and not _is_class(origin or hint, (str, bytes, Enum)):
        _check_list(hint, args, value, path)
    else:
        _check_leaf(hint, value, path)


def _check_union(hint: Any, args: tuple[Any, ...], value: Any, path: str) -> None:
    if value is None and type(None) in args:
        return
    arms = [arm for arm in args if arm is not type(None)]
    if len(arms) > 1:
        # The SDK reads the value as the first arm it converts to: that arm must take it as it is.
        arms = [arm for arm in arms if _converts(arm, value)][:1]
        if not arms:
            _refuse(path, f"one of {_type_name(hint)}", value)
    _check(arms[0], value, path)


def _check_dataclass(cls: type, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        _refuse(path, f"an object ({cls.__name__})", value)
    fields = dataclasses.fields(cls)
    missing = [field.name for field in fields if field.name not in value and _required(field)]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise PayloadTypeError(f"{path}: missing the required field{plural} {', '.join(missing)}")
    hints = _field_hints(cls)
    for field in fields:
        if field.name in value:  # unknown keys are ignored, as the SDK ignores them
            _check(hints[field.name], value[field.name], f"{path}.{field.name}")


@functools.lru_cache(maxsize=1024)
def _field_hints(cls: type) -> dict[str, Any]:
    """Resolved once per class: resolving compiles every annotation written as a string."""
    return typing.get_type_hints(cls)


def _required(field: dataclasses.Field[Any]) -> bool:
    """A field ``__init__`` cannot do without: no default, no default factory."""
    absent = dataclasses.MISSING
    return field.init and field.default is absent and field.default_factory is absent


def _check_list(hint: Any, args: tuple[Any, ...], value: Any, path: str) -> None:
    # The SDK would read a string as the list of its characters, an object as its keys.
    if not isinstance(value, list):
        _refuse(path, f"a list ({_type_name(hint)})", value)
    if typing.get_origin(hint) is tuple and args and args[-1] is not Ellipsis:
        item_hints: Iterable[Any] = args  # one hint per position; the SDK refuses extra items
    else:
        item_hints = itertools.repeat(args[0] if args else Any)
    for index, (item_hint, item) in enumerate(zip(item_hints, value, strict=False)):
        _check(item_hint, item, f"{path}[{index}]")


def _check_leaf(hint: Any, value: Any, path: str) -> None:
    # Python's bool is an int and int(2.5) is 2: the SDK would turn both into another number.
    if _is_class(hint, (int, float)) and not _is_class(hint, bool):
        fraction = isinstance(value, float) and not value.is_integer()
        if isinstance(value, bool) or (fraction and _is_class(hint, int)):
            _refuse(path, _expected(hint), value)
    if not _converts(hint, value):
        _refuse(path, _expected(hint), value)


def _converts(hint: Any, value: Any) -> bool:
    try:
        value_to_type(hint, value)
    except Exception:  # whatever the SDK raises, as its own union conversion catches
        return False
    return True


def _refuse(path: str, expected: str, value: Any) -> typing.NoReturn:
    raise PayloadTypeError(f"{path}: expected {expected}, got {_describe(value)}")


_EXPECTED = {
    bool: "a boolean",
    int: "a whole number",
    float: "a number",
    str: "a string",
    datetime: "an ISO 8601 date and time",
}


def _expected(hint: Any) -> str:
    """``a number (float)``, ``one of good, rectify (EvaluationResult)``: what fits ``hint``."""
    if _is_class(hint, Enum):
        return f"one of {', '.join(str(member.value) for member in hint)} ({hint.__name__})"
    kind = _EXPECTED.get(hint)
    return f"{kind} ({_type_name(hint)})" if kind else _type_name(hint)


def _is_class(hint: Any, base: type | tuple[type, ...]) -> bool:
    return inspect.isclass(hint) and issubclass(hint, base)


def _type_name(hint: Any) -> str:
    """``ExpertReview``, ``list[str]``, ``int | None``: a type hint without module paths."""
    text = hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else repr(hint)
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", text.replace("typing.", ""))


def _describe(value: Any) -> str:
    """What a JSON value is, quoting it only when it cannot be personal data."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the JSON boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"a JSON string ({_count(len(value), 'character')})"
    if isinstance(value, Mapping):
        return f"a JSON object ({_count(len(value), 'key')})"
    if isinstance(value, list):
        return f"a JSON array ({_count(len(value), 'item')})"
    return f"a {type(value).__name__}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class StrictJSONPlainPayloadConverter(JSONPlainPayloadConverter):
    """``json/plain`` as Temporal writes and reads it, except that JSON the SDK would have to
    change to fit the type hint is refused.

    Raises:
        PayloadTypeError: when the JSON does not fit the type hint, naming the path to the
            value (``ExpertReview.score``) and what was wrong with it.
    """

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if type_hint is not None:
            _check(type_hint, super().from_payload(payload), _type_name(type_hint))
        return super().from_payload(payload, type_hint)


class StrictPayloadConverter(CompositePayloadConverter):
    """Temporal's default payload converter with :class:`StrictJSONPlainPayloadConverter` in
    place of the JSON one (nullary, as ``DataConverter.payload_converter_class`` requires)."""

    def __init__(self) -> None:
        super().__init__(
            *(
                StrictJSONPlainPayloadConverter()
                if isinstance(converter, JSONPlainPayloadConverter)
                else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            ),
            # Read-only: where encryption is configured, or is not but should be.
            _RefusedPayloadConverter(),
            _EncryptedWithoutKeysConverter(),
        )


STRICT_CONVERTER = DataConverter(payload_converter_class=StrictPayloadConverter)
"""Temporal's default data converter, reading payloads strictly; no codec."""


def data_converter(settings: Settings, *, base: DataConverter = STRICT_CONVERTER) -> DataConverter:
    """The data converter every idri client and worker must share.

    Without keys this is ``base`` (:data:`STRICT_CONVERTER`) unchanged. With keys, ``base``
    gains the :class:`EncryptionCodec` and, when it uses the default failure converter, failure
    messages and stack traces move into an encoded (so encrypted) payload as well, since an
    error message may quote an address or a name.

    Raises:
        EncryptionConfigError: when the encryption settings are inconsistent.
    """
    codec = EncryptionCodec.from_settings(settings)
    if codec is None:
        return base
    failure_converter_class = base.failure_converter_class
    if failure_converter_class is DefaultFailureConverter:
        failure_converter_class = DefaultFailureConverterWithEncodedAttributes
    return dataclasses.replace(
        base, payload_codec=codec, failure_converter_class=failure_converter_class
    )


if __name__ == "__main__":
    print(generate_key())
