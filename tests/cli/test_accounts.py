"""Accounts from the command line, against the real API: an admin makes them, a person signs in
and out, and the token decides who acts, whatever the command line says."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest

from tests.cli.stack import ADMIN, BUREAU, DISTRICT_OFFICER, Stack

pytestmark = pytest.mark.devserver


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:4]}"


def test_login_whoami_and_logout_round_trip(stack: Stack, tmp_path: Path) -> None:
    name = _name("孙科长")
    added = stack.cli(
        "user", "add", name, "--role", "district_officer", "--district", "河西区",
        "--password", "--json", as_=ADMIN, input="correct horse\ncorrect horse\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout[added.stdout.index("{") :])["user"]["district"] == "hexi"

    # No IDRI_TOKEN: the saved token comes first, before the data directory's admin token.
    config = tmp_path / "config"
    me = {"XDG_CONFIG_HOME": str(config), "IDRI_TOKEN": None}
    signed_in = stack.cli("login", name, env=me, input="correct horse\n", as_=ADMIN)
    assert signed_in.exit_code == 0, signed_in.stderr
    token = config / "idri" / "token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    assert "correct horse" not in signed_in.stdout

    who = stack.cli("whoami", "--json", env=me, as_=ADMIN).json()
    assert (who["name"], who["role"], who["district"]) == (name, "district_officer", "hexi")
    kept = token.read_text().strip()

    out = stack.cli("logout", env=me, as_=ADMIN)
    assert out.exit_code == 0, out.stderr
    assert not token.exists()
    revoked = stack.cli("whoami", env={"IDRI_TOKEN": kept})
    assert revoked.exit_code == 1
    assert "idri login" in revoked.stderr and revoked.stderr.count("\n") == 1


def test_a_wrong_password_is_refused_and_nothing_is_saved(stack: Stack, tmp_path: Path) -> None:
    name = _name("钱工")
    made = stack.cli("user", "add", name, "--role", "bureau_officer", "--password", as_=ADMIN,
                     input="right password\nright password\n")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = stack.cli("login", name, env=env, input="wrong\n")
    assert result.exit_code == 1
    assert result.stderr == "error: wrong name or password\n"
    assert not (tmp_path / "config" / "idri" / "token").exists()


def test_the_admin_lists_disables_and_renews_accounts(stack: Stack) -> None:
    name = _name("吴经理")
    token = stack.add_account(name, "--role", "applicant", "--org", "天津某申请单位")
    listed = stack.cli("user", "list", "--json", as_=ADMIN).json()
    assert {BUREAU, DISTRICT_OFFICER, name} <= {u["name"] for u in listed}

    renewed = stack.cli("user", "token", name, "--json", as_=ADMIN).json()
    assert renewed["token"] != token and renewed["user"]["name"] == name

    disabled = stack.cli("user", "disable", name, as_=ADMIN)
    assert disabled.exit_code == 0, disabled.stderr
    for old in (token, renewed["token"]):
        refused = stack.cli("whoami", env={"IDRI_TOKEN": old})
        assert refused.exit_code == 1 and "idri login" in refused.stderr


def test_only_an_admin_manages_accounts(stack: Stack) -> None:
    result = stack.cli("user", "add", _name("x"), "--role", "admin", as_=BUREAU)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("error: accounts are managed by an admin")


def test_user_add_prints_the_token_once(stack: Stack) -> None:
    name = _name("郑工")
    result = stack.cli(
        "user", "add", name, "--role", "expert", "--org", "南开大学", "--email", "z@nk.example.cn",
        as_=ADMIN,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    token = result.stdout.split("token (shown once, keep it safe): ")[1].split()[0]
    assert result.stdout.count(token) == 1
    who = stack.cli("whoami", env={"IDRI_TOKEN": token})
    assert who.exit_code == 0 and name in who.stdout and "南开大学" in who.stdout


def test_a_password_is_set_by_an_admin_then_changed_by_its_owner(
    stack: Stack, tmp_path: Path
) -> None:
    name = _name("周工")
    stack.cli("user", "add", name, "--role", "bureau_officer", as_=ADMIN)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "IDRI_TOKEN": None}
    assert stack.cli("login", name, env=env, input="first password\n").exit_code == 1
    set_ = stack.cli("user", "password", name, as_=ADMIN, input="first password\n" * 2)
    assert set_.exit_code == 0, set_.stderr
    assert stack.cli("login", name, env=env, input="first password\n", as_=ADMIN).exit_code == 0
    wrong = stack.cli("password", env=env, input="not it\nsecond password\nsecond password\n")
    assert wrong.exit_code == 1
    assert "current password is wrong" in wrong.stderr
    changed = stack.cli(
        "password", env=env, input="first password\nsecond password\nsecond password\n"
    )
    assert changed.exit_code == 0, changed.stderr
    assert stack.cli("logout", env=env).exit_code == 0
    assert stack.cli("login", name, env=env, input="second password\n").exit_code == 0
