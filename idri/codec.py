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

This module is imported by entry points only (clients, workers, the codec server), never by
workflow code.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

if TYPE_CHECKING:
    from idri.settings import Settings

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
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
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
        try:
            clear = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise DecryptionError(
                f"a payload encrypted with key id {key_id!r} does not authenticate: the key "
                f"configured under {key_id!r} is not the one it was written with (was that "
                "id reused for a new key?), or the payload was altered"
            ) from None
        return Payload.FromString(clear)


def data_converter(
    settings: Settings, *, base: DataConverter = DataConverter.default
) -> DataConverter:
    """The data converter every idri client and worker must share.

    Without keys this is ``base`` unchanged. With keys, ``base`` gains the
    :class:`EncryptionCodec` and, when it uses the default failure converter, failure messages
    and stack traces move into an encoded (so encrypted) payload as well, since an error
    message may quote an address or a name.

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
