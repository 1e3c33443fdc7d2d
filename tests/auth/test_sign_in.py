"""Signing in with a name and a password: one answer for every wrong one, and failures slow
further attempts down (``idri.auth.throttle``)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from idri.auth import AccountRole, AccountStore, SignInRefused, SignInThrottled
from idri.auth.tables import AccountRow

from .conftest import LIFETIME, PASSWORD, START, Clock, CountingPasswords


def test_the_right_password_gives_a_token_that_expires_with_the_lifetime(
    store: AccountStore, alice: str
) -> None:
    account, token, expires_at = store.sign_in("alice", PASSWORD)
    assert account == store.get("alice")
    assert expires_at == START + LIFETIME
    assert token != alice and store.authenticate(token) == account


def test_a_password_hashed_with_older_parameters_is_hashed_anew_at_sign_in(
    engine: Engine, store: AccountStore, alice: str, clock: Clock
) -> None:
    def stored_hash() -> str:
        with engine.connect() as conn:
            return str(conn.scalar(select(col(AccountRow.password_hash))))

    assert ",t=1," in stored_hash()  # the tests' light parameters
    today = AccountStore(engine, now=clock)  # argon2-cffi's current defaults
    today.sign_in("alice", PASSWORD)
    assert "m=65536,t=3,p=4" in stored_hash()
    assert today.sign_in("alice", PASSWORD)[0].name == "alice"


def test_the_name_is_found_as_typed(store: AccountStore, alice: str) -> None:
    assert store.sign_in(" alice ", PASSWORD)[0].name == "alice"


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("alice", "wrong horse battery"),  # wrong password
        ("alice", PASSWORD.upper()),
        ("alice", ""),
        ("alicia", PASSWORD),  # unknown name
        ("", PASSWORD),
        ("alice", PASSWORD + "x" * 2000),  # too long to be anyone's password
    ],
)
def test_a_wrong_name_or_password_gets_one_and_the_same_refusal(
    store: AccountStore, alice: str, passwords: CountingPasswords, name: str, password: str
) -> None:
    before = passwords.verifications
    with pytest.raises(SignInRefused) as refused:
        store.sign_in(name, password)
    assert str(refused.value) == "wrong name or password"
    assert passwords.verifications == before + 1  # the same work for every refusal


def test_an_account_without_a_password_cannot_sign_in(
    store: AccountStore, passwords: CountingPasswords
) -> None:
    store.add("admin", "robot", AccountRole.BUREAU_OFFICER)
    with pytest.raises(SignInRefused, match="wrong name or password"):
        store.sign_in("robot", "")
    assert passwords.verifications == 1


def test_a_disabled_account_cannot_sign_in_even_with_its_password(
    store: AccountStore, alice: str
) -> None:
    store.disable("admin", "alice")
    with pytest.raises(SignInRefused, match="wrong name or password"):
        store.sign_in("alice", PASSWORD)


def fail(store: AccountStore, name: str, times: int = 1, *, clock: Clock | None = None) -> None:
    """Fail ``times`` sign-ins under ``name``; with ``clock``, waiting out each block."""
    for _ in range(times):
        with pytest.raises(SignInRefused):
            store.sign_in(name, "not the password")
        if clock is not None:
            clock.advance(15 * 60)


def test_five_failures_are_free(store: AccountStore, alice: str) -> None:
    fail(store, "alice", 4)
    assert store.sign_in("alice", PASSWORD)
    fail(store, "alice", 4)  # a success started the count again
    assert store.sign_in("alice", PASSWORD)


def test_after_five_failures_attempts_wait_longer_and_longer(
    store: AccountStore, alice: str, clock: Clock
) -> None:
    fail(store, "alice", 5)
    waits = []
    for _ in range(6):
        with pytest.raises(SignInThrottled) as throttled:
            store.sign_in("alice", PASSWORD)  # refused before the password is looked at
        waits.append(throttled.value.retry_after)
        clock.advance(throttled.value.retry_after)
        fail(store, "alice")
    assert waits == [1, 2, 4, 8, 16, 32]
    with pytest.raises(SignInThrottled) as throttled:
        store.sign_in("alice", PASSWORD)
    assert str(throttled.value) == (
        "too many failed sign-ins under this name: try again in 64 seconds"
    )


def test_the_wait_is_at_most_fifteen_minutes(store: AccountStore, alice: str, clock: Clock) -> None:
    fail(store, "alice", 16, clock=clock)
    fail(store, "alice")
    with pytest.raises(SignInThrottled) as throttled:
        store.sign_in("alice", PASSWORD)
    assert throttled.value.retry_after == 15 * 60
    assert str(throttled.value).endswith("try again in 15 minutes")


def test_a_throttled_attempt_costs_no_verification(
    store: AccountStore, alice: str, passwords: CountingPasswords
) -> None:
    fail(store, "alice", 5)
    before = passwords.verifications
    with pytest.raises(SignInThrottled):
        store.sign_in("alice", PASSWORD)
    assert passwords.verifications == before


def test_once_the_wait_is_over_the_right_password_signs_in_and_starts_the_count_again(
    store: AccountStore, alice: str, clock: Clock
) -> None:
    fail(store, "alice", 7, clock=clock)
    store.sign_in("alice", PASSWORD)
    fail(store, "alice", 4)
    assert store.sign_in("alice", PASSWORD)


def test_the_wait_holds_in_every_api_process(
    engine: Engine, store: AccountStore, alice: str, clock: Clock
) -> None:
    fail(store, "alice", 5, clock=clock)
    fail(store, "alice")
    elsewhere = AccountStore(engine, now=clock)  # another API process, the same database
    with pytest.raises(SignInThrottled) as throttled:
        elsewhere.sign_in("alice", PASSWORD)
    assert throttled.value.retry_after == 2


def test_unknown_names_are_throttled_like_accounts(
    store: AccountStore, alice: str, clock: Clock
) -> None:
    waits = {}
    for name in ("alice", "alicia"):
        fail(store, name, 5, clock=clock)
        fail(store, name)
        with pytest.raises(SignInThrottled) as throttled:
            store.sign_in(name, PASSWORD)
        waits[name] = throttled.value.retry_after
    assert waits == {"alice": 2, "alicia": 2}
