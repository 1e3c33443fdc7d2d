"""Tokens: shown once, stored as a digest, valid until they expire, are revoked or their
account is disabled; checked anew at every request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from idri.auth import AccountError, AccountRole, AccountStore
from idri.auth.tokens import digest

from .conftest import LIFETIME, PASSWORD, Clock, everything_stored


def test_a_token_is_recognisable_and_random(store: AccountStore, alice: str) -> None:
    second = store.new_token("admin", "alice")
    assert alice.startswith("idri_") and len(alice) == 48
    assert second != alice


def test_a_token_is_stored_only_as_its_digest(
    engine: Engine, store: AccountStore, alice: str
) -> None:
    _, signed_in, _ = store.sign_in("alice", PASSWORD)
    issued = store.new_token("admin", "alice")
    stored = everything_stored(engine)
    for token in (alice, signed_in, issued):
        assert not [v for v in stored if token in v or token[5:] in v]
        assert digest(token) in stored


def test_a_token_expires_after_its_lifetime(store: AccountStore, alice: str, clock: Clock) -> None:
    clock.advance(LIFETIME - timedelta(seconds=1))
    assert store.authenticate(alice) is not None
    clock.advance(1)
    assert store.authenticate(alice) is None


def test_the_lifetime_is_the_stores(engine: Engine, clock: Clock) -> None:
    store = AccountStore(engine, token_lifetime=timedelta(hours=1), now=clock)
    _, token = store.add("admin", "bob", AccountRole.BUREAU_OFFICER, password=PASSWORD)
    assert store.sign_in("bob", PASSWORD)[2] == clock() + timedelta(hours=1)
    clock.advance(3600)
    assert store.authenticate(token) is None


def test_a_revoked_token_is_out_and_the_accounts_others_stay(
    store: AccountStore, alice: str
) -> None:
    _, signed_in, _ = store.sign_in("alice", PASSWORD)
    store.revoke(signed_in)
    assert store.authenticate(signed_in) is None
    assert store.authenticate(alice) == store.get("alice")
    store.revoke(signed_in)  # signing out twice changes nothing
    store.revoke("idri_" + "x" * 43)  # nor does an unknown token


def test_a_new_token_leaves_the_earlier_ones_valid(store: AccountStore, alice: str) -> None:
    issued = store.new_token("admin", "alice")
    assert store.authenticate(issued) == store.authenticate(alice) == store.get("alice")


def test_a_disabled_account_is_out_at_once(store: AccountStore, alice: str) -> None:
    _, signed_in, _ = store.sign_in("alice", PASSWORD)
    account = store.disable("admin", "alice")
    assert not account.enabled
    assert store.authenticate(alice) is None and store.authenticate(signed_in) is None
    with pytest.raises(AccountError, match="alice is disabled: it cannot have a new token"):
        store.new_token("admin", "alice")


def test_disabling_a_disabled_account_changes_nothing(store: AccountStore, alice: str) -> None:
    first = store.disable("admin", "alice")
    assert store.disable("admin", "alice") == first
    assert [e.event.value for e in store.audit_trail("alice")].count("disabled") == 1


def test_the_last_enabled_admin_cannot_be_disabled(store: AccountStore) -> None:
    store.ensure_first_admin()
    with pytest.raises(AccountError, match="admin is the last enabled admin: add another admin"):
        store.disable("admin", "admin")
    store.add("admin", "root", AccountRole.ADMIN)
    store.disable("root", "admin")
    assert not store.get("admin").enabled


@pytest.mark.parametrize(
    "token",
    ["", "Bearer", "idri_", "x" * 48, "idri_" + "x" * 44, "idri_" + "x" * 43],
)
def test_anything_but_an_issued_token_authenticates_nobody(
    store: AccountStore, alice: str, token: str
) -> None:
    assert store.authenticate(token) is None
