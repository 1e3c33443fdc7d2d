"""Accounts: what may be added, under which name, and how it reads back."""

from __future__ import annotations

from typing import Any

import pytest

from idri.auth import (
    AccountError,
    AccountExists,
    AccountNotFound,
    AccountRole,
    AccountStore,
)

from .conftest import START

EXPERT = {"organisation": "天津大学", "email": "chen@tju.edu.cn"}


def test_an_added_account_reads_back_with_its_first_token(store: AccountStore) -> None:
    account, token = store.add(
        "admin", "王科长", AccountRole.DISTRICT_OFFICER, district="滨海新区", email="wang@tj.gov.cn"
    )
    assert (account.name, account.role, account.district, account.enabled) == (
        "王科长",
        AccountRole.DISTRICT_OFFICER,
        "binhai",  # the district is stored as its code, whatever was typed
        True,
    )
    assert account.email == "wang@tj.gov.cn" and account.organisation is None
    assert account.created_at == START
    assert store.get("王科长") == account
    assert store.authenticate(token) == account


@pytest.mark.parametrize("district", ["binhai", "滨海", "Binhai New Area"])
def test_a_district_is_found_by_code_chinese_or_english_name(
    store: AccountStore, district: str
) -> None:
    account, _ = store.add("admin", "o", AccountRole.DISTRICT_OFFICER, district=district)
    assert account.district == "binhai"


def test_a_role_may_be_given_by_its_value(store: AccountStore) -> None:
    account, _ = store.add("admin", "e", "expert", **EXPERT)  # type: ignore[arg-type]
    assert account.role is AccountRole.EXPERT and account.organisation == "天津大学"


def test_names_are_trimmed_and_found_as_typed(store: AccountStore) -> None:
    account, _ = store.add("admin", "  alice ", AccountRole.BUREAU_OFFICER)
    assert account.name == "alice"
    assert store.get(" alice") == account


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("", {}, "the account name must not be empty"),
    ("   ", {}, "the account name must not be empty"),
    ("a" * 65, {}, "the account name is too long (65 characters; at most 64)"),
    ("a\nb", {}, "the account name holds a control character (a line break)"),
    ("a\x1b[31m", {}, "the account name holds a control character (U+001B)"),
    ("a\u200bb", {}, "the account name holds a character that does not show (U+200B)"),
    ("a\u202eb", {}, "the account name holds a control character (U+202E)"),
    ("IDRI", {}, "'IDRI' is idri's own name in case histories"),
    ("x", {"role": "mayor"}, "unknown role 'mayor': give one of admin, bureau_officer"),
    ("x", {"role": AccountRole.DISTRICT_OFFICER}, "a district officer needs a district"),
    ("x", {"role": AccountRole.DISTRICT_OFFICER, "district": "Atlantis"}, "unknown district"),
    ("x", {"district": "binhai"}, "only a district officer has a district"),
    ("x", {"role": AccountRole.ADMIN, "district": "binhai"}, "only a district officer has"),
    ("x", {"role": AccountRole.EXPERT, "email": "c@tju.edu.cn"}, "expert needs its organisation"),
    ("x", {"role": AccountRole.EXPERT, "organisation": "天大"}, "expert account needs an e-mail"),
    ("x", {"role": AccountRole.APPLICANT}, "applicant needs its organisation"),
    (
        "x",
        {"organisation": "x" * 201},
        "the organisation is too long (201 characters; at most 200)",
    ),
    ("x", {"organisation": "a\rb"}, "the organisation holds a control character"),
    ("x", {"email": "a@b.cn, c@d.cn"}, "is not one plain address like a@b.cn"),
    ("x", {"email": "a@b.cn\nBcc: c@d.cn"}, "is not one plain address like a@b.cn"),
    ("x", {"password": "too short"}, "the password is too short: give at least 10 characters"),
    ("x", {"password": "x" * 1025}, "the password is too long: give at most 1024 characters"),
]


@pytest.mark.parametrize(("name", "given", "sentence"), REFUSALS)
def test_an_account_that_breaks_a_rule_is_refused_with_a_sentence_saying_which(
    store: AccountStore, name: str, given: dict[str, Any], sentence: str
) -> None:
    given = {"role": AccountRole.BUREAU_OFFICER, **given}
    with pytest.raises(AccountError) as refused:
        store.add("admin", name, **given)
    assert sentence in str(refused.value)
    assert type(refused.value) is AccountError  # the API answers 422
    assert store.list() == [] and store.audit_trail() == []


def test_a_name_is_taken_once_even_by_a_disabled_account(store: AccountStore) -> None:
    store.add("admin", "alice", AccountRole.ADMIN)
    store.add("admin", "bob", AccountRole.ADMIN)
    with pytest.raises(AccountExists, match="an account called 'alice' exists already"):
        store.add("admin", " alice", AccountRole.EXPERT, **EXPERT)
    store.disable("bob", "alice")
    with pytest.raises(AccountExists):
        store.add("admin", "alice", AccountRole.BUREAU_OFFICER)
    assert [a.role for a in store.list()] == [AccountRole.ADMIN, AccountRole.ADMIN]


def test_an_unknown_name_is_not_found(store: AccountStore) -> None:
    with pytest.raises(AccountNotFound, match="no account is called 'nobody'"):
        store.get("nobody")
    with pytest.raises(AccountNotFound):
        store.disable("admin", "nobody")
    with pytest.raises(AccountNotFound):
        store.new_token("admin", "nobody")


def test_accounts_are_listed_by_name_enabled_or_not(store: AccountStore) -> None:
    for name in ("carol", "alice", "bob"):
        store.add("admin", name, AccountRole.BUREAU_OFFICER)
    store.disable("admin", "bob")
    assert [(a.name, a.enabled) for a in store.list()] == [
        ("alice", True),
        ("bob", False),
        ("carol", True),
    ]
