"""Every account change is in the audit trail, and no secret is: not in the trail, not in the
database, not in a log."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from idri.auth import AccountEvent, AccountRole, AccountStore, SignInRefused
from idri.auth.tokens import digest

from .conftest import LIFETIME, PASSWORD, START, everything_stored


def test_each_change_writes_when_who_which_account_and_what(store: AccountStore) -> None:
    admin_token = store.ensure_first_admin()
    assert admin_token is not None
    store.add(
        "admin",
        "陈工",
        AccountRole.EXPERT,
        organisation="天津大学",
        email="chen@tju.edu.cn",
        password=PASSWORD,
    )
    store.new_token("admin", "陈工")
    with pytest.raises(SignInRefused):
        store.sign_in("陈工", "not the password")
    _, token, _ = store.sign_in("陈工", PASSWORD)
    store.revoke(token)
    store.disable("admin", "陈工")

    trail = [(e.at, e.actor, e.account, e.event) for e in store.audit_trail()]
    assert trail == [
        (START, "idri", "admin", AccountEvent.FIRST_ADMIN),
        (START, "idri", "admin", AccountEvent.TOKEN_ISSUED),
        (START, "admin", "陈工", AccountEvent.CREATED),
        (START, "admin", "陈工", AccountEvent.TOKEN_ISSUED),
        (START, "admin", "陈工", AccountEvent.TOKEN_ISSUED),
        (START, None, "陈工", AccountEvent.SIGN_IN_FAILED),  # nobody signed in
        (START, "陈工", "陈工", AccountEvent.TOKEN_ISSUED),
        (START, "陈工", "陈工", AccountEvent.SIGNED_IN),
        (START, "陈工", "陈工", AccountEvent.TOKEN_REVOKED),
        (START, "admin", "陈工", AccountEvent.DISABLED),
    ]
    created = store.audit_trail("陈工")[0]
    assert created.details == {
        "role": "expert",
        "organisation": "天津大学",
        "email": "chen@tju.edu.cn",
        "password": "set",
    }
    issued = store.audit_trail("陈工")[1].details
    assert issued == {
        "token": issued["token"],
        "via": "created",
        "expires_at": (START + LIFETIME).isoformat(),
    }
    assert store.audit_trail("陈工")[-1].details == {"tokens_revoked": "2"}


def test_a_failed_sign_in_under_an_unknown_name_keeps_nothing_of_what_was_typed(
    store: AccountStore,
) -> None:
    with pytest.raises(SignInRefused):
        store.sign_in("my secret password typed as a name", PASSWORD)
    [failed] = store.audit_trail()
    assert (failed.actor, failed.account, failed.event) == (None, None, AccountEvent.SIGN_IN_FAILED)
    assert failed.details == {"name": "unknown"}


def test_repeated_failures_say_how_many_and_how_long_the_name_is_blocked(
    store: AccountStore, alice: str
) -> None:
    for _ in range(5):
        with pytest.raises(SignInRefused):
            store.sign_in("alice", "not the password")
    failed = [
        e.details for e in store.audit_trail("alice") if e.event is AccountEvent.SIGN_IN_FAILED
    ]
    assert failed[0] == {"failures": "1"}
    assert failed[-1] == {"failures": "5", "blocked_seconds": "1"}


def test_no_secret_is_stored_or_logged(engine: Engine, store: AccountStore) -> None:
    """Tokens, passwords and password hashes: not in the database beyond the account's own
    hash and the tokens' digests, not in the audit trail, not in any log line."""
    with capture_logs() as logs:
        first = store.ensure_first_admin()
        _, created = store.add("admin", "alice", AccountRole.ADMIN, password=PASSWORD)
        issued = store.new_token("admin", "alice")
        with pytest.raises(SignInRefused):
            store.sign_in("alice", PASSWORD + "!")
        with pytest.raises(SignInRefused):
            store.sign_in(PASSWORD, PASSWORD)  # a password typed into the name field
        _, signed_in, _ = store.sign_in("alice", PASSWORD)
        store.revoke(signed_in)
        store.disable("alice", "admin")
    assert logs, "the store logs its changes"
    secrets = [first, created, issued, signed_in, PASSWORD]
    assert all(s is not None for s in secrets)
    logged = " ".join(str(line) for line in logs)
    stored = everything_stored(engine)
    trail = " ".join(str(e) for e in store.audit_trail())
    for secret in secrets:
        assert secret is not None
        assert secret not in logged and secret not in trail
        assert not [v for v in stored if secret in v]
    for token in secrets[:4]:
        assert token is not None and digest(token) not in trail and digest(token) not in logged
    assert "argon2" not in trail and "argon2" not in logged
    hashes = [v for v in stored if v.startswith("$argon2id$")]
    assert len(hashes) == 1  # alice's, in her account row only
