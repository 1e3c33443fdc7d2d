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

Keys rotate without re-encrypting history: ``IDRI_ENCRYPTION_KEYS`` maps every key id still
needed to its key, ``IDRI_ENCRYPTION_KEY_ID`` names the one new payloads use, and a payload is
always decrypted with the key its own metadata names. Roll a new key out in two steps: add it to
the key set of every worker, client and codec server first, then switch the current key id.

Payloads are also read strictly (:class:`StrictPayloadConverter`): Temporal's default JSON
converter quietly turns ``true`` into ``1.0`` for a ``float`` field, ``2.5`` into ``2`` for an
``int`` field and a string into the list of its characters for a ``list[str]`` field, so a client
sending JSON by hand could slip a value past a validator that never sees the original. Here each
of those is a :class:`PayloadTypeError` naming the field and the value instead.

This module is imported by entry points only (clients, workers, the codec server), never by
workflow code.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import inspect
import json
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    PayloadCodec,
    value_to_type,
)

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


class EncryptionConfigError(ValueError):
    """The encryption settings cannot work (bad key, unknown current key id)."""


class DecryptionError(ValueError):
    """An encrypted payload could not be decrypted."""


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
    """

    def __init__(self, keys: Mapping[str, bytes], *, current_key_id: str) -> None:
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
        return cls(keys, current_key_id=current)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id this codec can decrypt."""
        return tuple(sorted(self._ciphers))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload whole (data and metadata) with the current key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads with the key each names; pass others through unchanged.

        Payloads written before encryption was switched on stay readable.

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
        """One payload in clear; payloads that are not encrypted are returned as they are."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
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


# --- Reading payloads strictly ------------------------------------------------------------------


class PayloadTypeError(TypeError):
    """A payload's JSON does not have the type its type hint asks for, and converting it would
    change its meaning (``true`` for a number, ``2.5`` for a whole number, a string for a list).

    Raised while decoding. An update whose argument raises it is rejected before its validator
    runs (the caller's failure is ``RuntimeError: Failed decoding arguments``, caused by this
    error with its message); elsewhere the SDK treats it like any decoding failure (a workflow
    task failure, retried once the data or the code is fixed).
    """


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


def _is_number_hint(hint: Any) -> bool:
    return hint is int or hint is float or (_is_class(hint, int) and _is_class(hint, Enum))


def _is_class(hint: Any, base: type | tuple[type, ...]) -> bool:
    return inspect.isclass(hint) and issubclass(hint, base)


def _is_collection_hint(hint: Any) -> bool:
    """A hint the default converter fills from any iterable (``list[str]``, ``tuple[X, ...]``,
    ``set[int]``), where a string or an object would be split into characters or keys."""
    origin = typing.get_origin(hint) or hint
    return (
        _is_class(origin, Iterable)
        and not _is_class(origin, (str, bytes, bytearray, Mapping, Enum))
        and not dataclasses.is_dataclass(origin)
    )


def _refuse_coercion(hint: Any, value: Any) -> None:
    """Raise when ``value`` would only become a ``hint`` number by changing its meaning."""
    if isinstance(value, bool):
        expected = "a whole number" if _is_class(hint, int) else "a number"
        raise PayloadTypeError(f"expected {expected} ({_type_name(hint)}), got {_describe(value)}")
    if hint is int and isinstance(value, float) and not value.is_integer():
        raise PayloadTypeError(f"expected a whole number (int), got {_describe(value)}")


class _NoSilentCoercion(JSONTypeConverter):
    """Refuses the JSON values the default converter would change to fit a type hint.

    Every other value is converted as the default conversion (``value_to_type``) converts it,
    with the same results and the same errors: for the hints idri's payloads are made of
    (dataclasses, ``str``, ``int``, ``float``, ``bool``, ``datetime``, string enums, ``X | None``,
    ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``) by a decoder built once per hint, which
    reads a dataclass's fields and type hints once instead of at every value; any other hint is
    left to the default conversion (:attr:`Unhandled`), which already refuses a number or a list
    for a ``str``, a string for a number, and so on.
    """

    def to_typed_value(self, hint: type, value: Any) -> Any:
        return _decoder(hint)(value)


_Decoder = Callable[[Any], Any]
"""One hint's conversion of a JSON value; :data:`_UNHANDLED` leaves the value to the SDK."""
_UNHANDLED = JSONTypeConverter.Unhandled
_STRICT: list[JSONTypeConverter] = [_NoSilentCoercion()]
"""The custom converters for what is left to ``value_to_type``."""
_DECODERS: dict[int, tuple[Any, _Decoder]] = {}
"""``id(hint)`` → (hint, its decoder). Keyed by identity, as hints that compare equal can still
convert differently (``int | str`` equals ``str | int``, yet tries ``int`` first); holding the
hint keeps its id from being reused."""
_MAX_DECODERS = 2048
"""Type hints live as long as their classes and functions, a few hundred here; a bound keeps
classes a workflow sandbox imports afresh for each run from piling up."""


def _decoder(hint: Any) -> _Decoder:
    """The decoder of ``hint``, built at its first use."""
    entry = _DECODERS.get(id(hint))
    if entry is not None and entry[0] is hint:
        return entry[1]
    try:
        decoder = _exact_decoder(hint)
    except Exception:  # e.g. annotations that do not resolve: the default conversion says so
        decoder = None
    if decoder is None:
        decoder = _guard(hint)
    if len(_DECODERS) >= _MAX_DECODERS:
        _DECODERS.clear()
    _DECODERS[id(hint)] = (hint, decoder)
    return decoder


def _guard(hint: Any) -> _Decoder:
    """For a hint left to the default conversion: refuse what it would coerce, leave the rest."""
    if _is_number_hint(hint):  # an enum mixing in int (int and float have exact decoders)

        def guard_number(value: Any) -> Any:
            _refuse_coercion(hint, value)
            return _UNHANDLED

        return guard_number
    if _is_collection_hint(hint):

        def guard_collection(value: Any) -> Any:
            if isinstance(value, str | bytes | Mapping):
                raise PayloadTypeError(
                    f"expected a list ({_type_name(hint)}), got {_describe(value)}"
                )
            return _UNHANDLED

        return guard_collection
    present = _optional_arm(hint)
    if present is not None:
        # ``X | None`` with a value: only X can take it. Converting to X directly keeps X's own
        # error instead of the union's "Failed converting to X | None from ...".
        def guard_optional(value: Any) -> Any:
            return _UNHANDLED if value is None else value_to_type(present, value, _STRICT)

        return guard_optional
    return _unhandled


def _unhandled(value: Any) -> Any:
    return _UNHANDLED


def _optional_arm(hint: Any) -> Any:
    """``X`` of ``X | None`` (``Optional[X]``), or None for any other hint."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    arms = typing.get_args(hint)
    present = [arm for arm in arms if arm is not type(None)]
    return present[0] if len(present) == 1 and len(arms) == 2 else None


def _exact_decoder(hint: Any) -> _Decoder | None:
    """A decoder doing all of the default conversion of ``hint``, strictly, or None when
    ``hint`` is not one of those it covers. Each raises what ``value_to_type`` would raise,
    wrapping a nested error the same way (``Failed converting field score on dataclass ...``),
    so :func:`_explain` finds the path in the same chain."""
    simple = _SIMPLE.get(hint) if isinstance(hint, type) or hint is Any else None
    if simple is not None:
        return simple
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return _enum_decoder(hint) if issubclass(hint, str) else None
        if dataclasses.is_dataclass(hint) and not issubclass(hint, Mapping):
            return _dataclass_decoder(hint)
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and len(args) == 1 and _is_item_hint(args[0]):
        return _sequence_decoder(hint, args[0], list)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and _is_item_hint(args[0]):
        return _sequence_decoder(hint, args[0], tuple)
    if origin is dict and len(args) == 2 and args[0] is str and _is_item_hint(args[1]):
        return _mapping_decoder(hint, args[1])
    present = _optional_arm(hint)
    if present is not None:
        # Only for an X that refuses null, as the union then converts null to None.
        decode = _exact_decoder(present)
        if decode is not None and present is not Any:
            return _optional_decoder(decode)
    return None


def _is_item_hint(hint: Any) -> bool:
    """An item hint ``value_to_type`` converts each item to (not ``...`` or a type variable)."""
    return hint is not Ellipsis and not isinstance(hint, typing.TypeVar)


def _to_str(value: Any) -> Any:
    if type(value) is str:
        return value
    if not isinstance(value, str):
        raise TypeError(f"Expected value to be str, was {type(value)}")
    return str(value)


def _to_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise TypeError(f"Expected value to be bool, was {type(value)}")
    return bool(value)


def _to_number(kind: type[int] | type[float]) -> _Decoder:
    """The decoder of ``int`` or ``float``: the value itself when it already is one."""

    def decode(value: Any) -> Any:
        if type(value) is kind:
            return value
        _refuse_coercion(kind, value)
        if not isinstance(value, int | float):
            raise TypeError(f"Expected value to be int|float, was {type(value)}")
        return kind(value)

    return decode


_to_int, _to_float = _to_number(int), _to_number(float)


def _to_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)  # the SDK's parser on Python 3.11+
        except ValueError as err:
            raise TypeError(f"Failed parsing datetime string: {value}") from err
    if isinstance(value, datetime):
        return value
    raise TypeError(f"Expected datetime or ISO8601 string, got {type(value)}")


def _identity(value: Any) -> Any:
    return value


_SIMPLE: dict[Any, _Decoder] = {
    str: _to_str,
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    datetime: _to_datetime,
    Any: _identity,
}


def _enum_decoder(enum: type[Enum]) -> _Decoder:
    members = {member.value: member for member in enum}

    def decode_enum(value: Any) -> Any:
        if type(value) is str:
            member = members.get(value)
            if member is not None:
                return member
        elif not isinstance(value, str):
            raise TypeError(
                f"Cannot convert to enum {enum}, value not a string, value is {type(value)}"
            )
        return enum(value)  # a value of no member: Enum's own error (or its _missing_)

    return decode_enum


def _dataclass_decoder(cls: type) -> _Decoder:
    """As ``value_to_type`` converts a dataclass: unknown keys are ignored, a missing required
    field fails at construction, ``init=False`` fields are set after it."""
    hints = typing.get_type_hints(cls)
    fields = [(field.name, field.init, hints[field.name]) for field in dataclasses.fields(cls)]
    # Field decoders are looked up at the first value, so a dataclass can contain itself.
    plan: list[tuple[str, bool, Any, _Decoder]] | None = None

    def decode_dataclass(value: Any) -> Any:
        nonlocal plan
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {cls}, value is {type(value)} not dict")
        if plan is None:
            plan = [(name, init, hint, _decoder(hint)) for name, init, hint in fields]
        arguments = {}
        late = {}
        for name, init, hint, decode in plan:
            item = value.get(name, dataclasses.MISSING)
            if item is dataclasses.MISSING:
                continue
            try:
                converted = _convert(decode, hint, item)
            except Exception as err:
                raise TypeError(f"Failed converting field {name} on dataclass {cls}") from err
            if init:
                arguments[name] = converted
            else:
                late[name] = converted
        obj = cls(**arguments)
        for name, converted in late.items():
            object.__setattr__(obj, name, converted)
        return obj

    return decode_dataclass


def _convert(decode: _Decoder, hint: Any, item: Any) -> Any:
    """``item`` by its cached decoder, or by the SDK's ``value_to_type`` where it has none."""
    converted = decode(item)
    return value_to_type(hint, item, _STRICT) if converted is _UNHANDLED else converted


def _sequence_decoder(hint: Any, item_hint: Any, kind: type[list] | type[tuple]) -> _Decoder:
    decode = _decoder(item_hint)

    def decode_sequence(value: Any) -> Any:
        if type(value) is not list:
            if isinstance(value, str | bytes | Mapping):
                raise PayloadTypeError(
                    f"expected a list ({_type_name(hint)}), got {_describe(value)}"
                )
            if not isinstance(value, Iterable):
                raise TypeError(f"Expected {hint}, value was {type(value)}")
        items = []
        for index, item in enumerate(value):
            try:
                converted = _convert(decode, item_hint, item)
            except Exception as err:
                raise TypeError(f"Failed converting {hint} index {index}") from err
            items.append(converted)
        return items if kind is list else tuple(items)

    return decode_sequence


def _mapping_decoder(hint: Any, value_hint: Any) -> _Decoder:
    """``dict[str, X]``; JSON object keys are strings already."""
    decode = _decoder(value_hint)

    def decode_mapping(value: Any) -> Any:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise TypeError(f"Expected {hint}, value was {type(value)}")
        converted_items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                try:
                    key = _to_str(key)
                except Exception as err:
                    raise TypeError(
                        f"Failed converting key {key!r} to type {str} in mapping {hint}"
                    ) from err
            try:
                converted = _convert(decode, value_hint, item)
            except Exception as err:
                raise TypeError(
                    f"Failed converting value for key {key!r} in mapping {hint}"
                ) from err
            converted_items[key] = converted
        return converted_items

    return decode_mapping


def _optional_decoder(decode: _Decoder) -> _Decoder:
    def decode_optional(value: Any) -> Any:
        return None if value is None else decode(value)

    return decode_optional


# How value_to_type wraps a nested error; each names one step of the path to the bad value.
_STEPS = (
    (re.compile(r"Failed converting field (\w+) on dataclass .*", re.S), ".{}"),
    (re.compile(r"Failed converting .* index (\d+)", re.S), "[{}]"),
    (re.compile(r"Failed converting value for key (.*) in mapping .*", re.S), "[{}]"),
)


def _explain(hint: Any, error: BaseException) -> str:
    """``ExpertReview.score: expected a number (float), got the JSON boolean true``, from the
    chain of errors value_to_type raised (each wrapper adds a field, an index or a key)."""
    path, reasons = _type_name(hint), []
    seen: BaseException | None = error
    while seen is not None:
        message = str(seen)
        for pattern, step in _STEPS:
            match = pattern.fullmatch(message)
            if match:
                path += step.format(match.group(1))
                break
        else:
            reasons.append(re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", message))
        seen = seen.__cause__
    return f"{path}: {'; '.join(reasons) or type(error).__name__}"


_LEAVES: frozenset[type] = frozenset({str, int, float, bool, type(None)})
"""Values written as they are."""

_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}
"""Field names of each dataclass met so far; None for a type written as it is."""


def _plain(value: Any) -> Any:
    """``value`` with every dataclass inside it turned into the dict of its fields.

    What Temporal's encoder does with ``dataclasses.asdict``, without its deep copy of every
    leaf (a record of a case was two thirds of the cost of writing it). Anything else is left
    to the encoder, so the JSON is the same byte for byte.
    """
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is datetime:
        return value.isoformat()  # as the encoder's ``default`` writes it
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    if kind is dict:
        return {key: _plain(item) for key, item in value.items()}
    try:
        names = _FIELD_NAMES[kind]
    except KeyError:
        is_dataclass = dataclasses.is_dataclass(kind)
        names = tuple(f.name for f in dataclasses.fields(kind)) if is_dataclass else None
        _FIELD_NAMES[kind] = names
    if names is None:
        return value  # enums (str or int), sets, UUIDs...: as the encoder writes them
    return {name: _plain(getattr(value, name)) for name in names}


class StrictJSONPlainPayloadConverter(JSONPlainPayloadConverter):
    """``json/plain`` as Temporal writes it, read without silent coercions.

    Raises:
        PayloadTypeError: when the JSON does not fit the type hint, naming the path to the
            value (``ExpertReview.score``) and what was wrong with it.
    """

    def __init__(self) -> None:
        super().__init__(custom_type_converters=[_NoSilentCoercion()])

    def to_payload(self, value: Any) -> Payload | None:
        return super().to_payload(_plain(value))

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except (TypeError, ValueError) as error:
            raise PayloadTypeError(_explain(type_hint, error)) from None


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
            )
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
