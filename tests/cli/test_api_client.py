"""The CLI as a client of the API: where it finds the API and the token, and how each answer
becomes an exit status and one line on stderr. Against a tiny real HTTP server
(``fake_api.py``): the client runs as in production, over a socket."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from idri.cli import build_app
from idri.devserver import free_port
from tests.cli.fake_api import FakeApi, fake_api
from tests.cli.stack import PROBE

WORKTREE = Path(__file__).resolve().parents[2]


def status_of(case_id: str = "binhai-0a1b2c3d", **fields: Any) -> dict[str, Any]:
    """A case status as ``GET /api/cases/{id}`` answers it."""
    return {
        "case_id": case_id,
        "organisation": "天津示例工业设计有限公司",
        "district": "binhai",
        "direction": "ai",
        "stage": "surveyed",
        "level": "municipal",
        "round_year": None,
        "deadline": None,
        "allowed_actions": ["submit_plan", "withdraw"],
        "designated_at": None,
        "next_evaluation_due": None,
        "missed_rounds": 0,
        "open_objections": 0,
        "reviews": [],
        "warnings": [],
        "previous_case_id": None,
        "notice": None,
        "rectification_due": None,
        "history_length": 1,
        "ended": None,
    } | fields


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str | None]:
    """An environment of no token and no data directory of its own, XDG config in tmp."""
    return {
        "IDRI_API_URL": None,
        "IDRI_TOKEN": None,
        "IDRI_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


def idri(
    *args: str, env: dict[str, str | None], api: FakeApi | None = None, input: str | None = None
) -> tuple[int, str, str]:
    environment = {**env, **({"IDRI_API_URL": api.url} if api else {})}
    result = CliRunner().invoke(
        build_app(), list(args), env=environment, input=input, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# --- Answers -------------------------------------------------------------------------------------


def test_a_refused_token_says_how_to_sign_in(api: FakeApi, home: dict[str, str | None]) -> None:
    api.answer("GET", "/api/cases/c1", 401, {"detail": "unknown or expired token"})
    code, out, err = idri("status", "c1", env=home | {"IDRI_TOKEN": "bad"}, api=api)
    line = one_line(err)
    assert code == 1 and out == ""
    assert "unknown or expired token" in line and "IDRI_TOKEN" in line
    assert "`idri login NAME`" in line and "(the token came from IDRI_TOKEN)" in line


def test_without_any_token_it_says_it_is_not_signed_in(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    api.answer("GET", "/api/cases/c1", 401, {"detail": "not signed in"})
    code, _, err = idri("status", "c1", env=home, api=api)
    assert code == 1
    assert one_line(err) == (
        "error: not signed in: sign in with `idri login NAME`, or set IDRI_TOKEN to an API token"
    )
    assert "authorization" not in api.received[0].headers


@pytest.mark.parametrize("status", [403, 404, 409, 429])
def test_a_refusal_is_its_detail_on_one_line(
    api: FakeApi, home: dict[str, str | None], status: int
) -> None:
    detail = f"refused for a reason a person reads ({status})"
    api.answer("POST", "/api/cases/c1/recommend", status, {"detail": detail})
    code, out, err = idri("recommend", "c1", "--opinion", "推荐", env=home, api=api)
    assert (code, out) == (1, "")
    assert one_line(err) == f"error: {detail}"


def test_a_wrong_password_is_the_apis_sentence(api: FakeApi, home: dict[str, str | None]) -> None:
    api.answer("POST", "/api/sign-in", 401, {"detail": "wrong name or password"})
    code, _, err = idri("login", "王科长", env=home, api=api, input="wrong\n")
    assert (code, one_line(err)) == (1, "error: wrong name or password")
    assert not (Path(str(home["XDG_CONFIG_HOME"])) / "idri" / "token").exists()


def test_too_many_sign_ins_says_when_to_try_again(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    api.answer(
        "POST", "/api/sign-in", 429, {"detail": "too many failed sign-ins"}, Retry_After="60"
    )
    code, _, err = idri("login", "王科长", env=home, api=api, input="wrong\n")
    assert code == 1
    assert one_line(err).endswith("error: too many failed sign-ins (try again in 60 s)")


def test_fastapis_list_of_invalid_fields_names_each_field(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    api.answer(
        "POST",
        "/api/cases/c1/reviews",
        422,
        {
            "detail": [
                {
                    "type": "less_than_equal",
                    "loc": ["body", "score"],
                    "msg": "Input should be less than or equal to 100",
                    "input": 101,
                }
            ]
        },
    )
    code, _, err = idri(
        "review", "submit", "c1", "--score", "101", "--opinion", "好", env=home, api=api
    )
    assert code == 1
    assert one_line(err) == "error: score: Input should be less than or equal to 100"


def test_an_api_that_cannot_reach_temporal_is_exit_status_3_with_its_reason(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    detail = "case c1 did not answer within 30s: is a worker running (`idri up`)?"
    api.answer("GET", "/api/cases/c1", 503, {"detail": detail})
    code, _, err = idri("status", "c1", env=home, api=api)
    assert (code, one_line(err)) == (3, f"error: {detail}")


def test_no_api_listening_is_exit_status_3_with_what_to_do(home: dict[str, str | None]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = idri("status", "c1", env=home | {"IDRI_API_URL": url})
    assert (code, out) == (3, "")
    assert one_line(err) == (
        f"error: cannot reach the idri API at {url} (connection refused); start it with "
        "`idri up` or set IDRI_API_URL"
    )


def test_an_answer_that_is_not_json_is_refused_in_one_line(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    code, _, err = idri("status", "c1", env=home | {"IDRI_API_URL": api.url + "/x"})
    # The fake answers 404 with JSON for every unknown path: the detail is passed on.
    assert code == 1 and "no route /x/api/cases/c1" in one_line(err)


# --- Finding the API and the token -----------------------------------------------------------------


def test_the_address_idri_up_wrote_is_used_without_idri_api_url(
    api: FakeApi, home: dict[str, str | None], tmp_path: Path
) -> None:
    api.answer("GET", "/api/cases/c1", 200, status_of("c1"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "api.url").write_text(api.url + "\n")
    code, out, _ = idri("status", "c1", "--json", env=home)
    assert code == 0 and json.loads(out)["case_id"] == "c1"
    assert [r.path for r in api.received] == ["/api/cases/c1"]


def test_the_token_is_idri_token_then_the_saved_one_then_the_admin_token(
    api: FakeApi, home: dict[str, str | None], tmp_path: Path
) -> None:
    api.answer("GET", "/api/me", 200, {"name": "甲", "role": "admin"})
    data, config = tmp_path / "data", tmp_path / "config" / "idri"
    data.mkdir()
    (data / "admin.token").write_text("admin-token\n")
    config.mkdir(parents=True)

    def sent(env: dict[str, str | None]) -> str:
        assert idri("whoami", env=env, api=api)[0] == 0
        return api.received[-1].headers["authorization"]

    assert sent(home) == "Bearer admin-token"
    (config / "token").write_text("saved-token\n")
    assert sent(home) == "Bearer saved-token"
    assert sent(home | {"IDRI_TOKEN": "env-token"}) == "Bearer env-token"


def test_a_case_id_never_becomes_another_path(api: FakeApi, home: dict[str, str | None]) -> None:
    idri("status", "../users", env=home, api=api)
    assert api.received[0].path == "/api/cases/..%2Fusers"


def test_an_action_sends_its_body_as_the_contract_says(
    api: FakeApi, home: dict[str, str | None], tmp_path: Path
) -> None:
    plan = tmp_path / "方案.pdf"
    plan.write_bytes(b"%PDF-1.7 plan")
    sha = hashlib.sha256(b"%PDF-1.7 plan").hexdigest()
    document = {"name": "方案.pdf", "kind": "plan", "size": 13, "sha256": sha}
    path = "/api/cases/c1/documents?name=%E6%96%B9%E6%A1%88.pdf&kind=plan"
    answer = {"document": document, "case": status_of("c1", stage="plan_submitted")}
    api.answer("POST", path, 201, answer)
    code, out, _ = idri("plan", "submit", "c1", "--file", str(plan), env=home, api=api)
    assert code == 0, out
    # The file itself goes up, as the raw body: the API keeps it and records its hash.
    assert api.received[0].body == b"%PDF-1.7 plan"
    assert api.received[0].headers["content-length"] == "13"
    assert "✓ plan 方案.pdf recorded (13 bytes" in out and "stage 'plan_submitted'" in out


# --- Identity comes from the account -------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [("--role", "bureau_officer"), ("--as", "李处长"), ("--district", "滨海新区")],
    ids=["role", "as", "district"],
)
def test_identity_flags_are_refused_and_nothing_is_sent(
    api: FakeApi, home: dict[str, str | None], flags: tuple[str, str]
) -> None:
    code, out, err = idri("recommend", "c1", "--opinion", "推荐", *flags, env=home, api=api)
    assert (code, out) == (2, "")
    line = one_line(err)
    assert "identity now comes from the signed-in account" in line
    assert "idri login" in line and "IDRI_TOKEN" in line
    assert api.received == []


def test_review_assign_refuses_an_organisation_typed_for_an_expert(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    code, _, err = idri(
        "review", "assign", "c1", "--expert", "张教授", "--org", "天津大学", env=home, api=api
    )
    assert code == 2
    assert "come from the expert's account" in one_line(err)
    assert api.received == []


def test_survey_add_keeps_district_as_the_candidates_district(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    api.answer(
        "POST",
        "/api/cases",
        201,
        {
            "case_id": "binhai-1",
            "workflow_id": "institute-binhai-1",
            "organisation": "甲",
            "warnings": [],
        },
    )
    code, out, err = idri(
        "survey", "add", "--name", "甲", "--district", "滨海新区", "--direction", "ai",
        "--json", env=home, api=api,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {
        "case_id": "binhai-1", "workflow_id": "institute-binhai-1", "warnings": [],
    }  # fmt: skip
    assert api.received[0].body["district"] == "binhai"


# --- Hostile data --------------------------------------------------------------------------------

HOSTILE = "[bold red]x[/] [link=https://evil.example]点我[/link] :smile: \x1b]0;owned\x07"


def test_rich_markup_in_data_prints_literally(api: FakeApi, home: dict[str, str | None]) -> None:
    api.answer(
        "GET",
        "/api/cases/c1",
        200,
        status_of(
            "c1",
            organisation=HOSTILE,
            warnings=["[blink]warning[/blink]"],
            reviews=[{"expert": "[i]张[/i]", "organisation": "[u]大学", "score": None}],
        ),
    )
    code, out, _ = idri("status", "c1", env=home, api=api)
    assert code == 0
    assert "[bold red]x[/] [link=https://evil.example]点我[/link] :smile:" in out
    assert "[blink]warning[/blink]" in out and "[i]张[/i] ([u]大学): awaited" in out
    assert "\x1b" not in out and "\x07" not in out


def test_rich_markup_in_an_action_result_and_a_list_prints_literally(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    api.answer("POST", "/api/cases/c1/withdrawal", 200, status_of("c1", warnings=[HOSTILE]))
    api.answer(
        "GET",
        "/api/cases?limit=500",
        200,
        [{"case_id": "c1", "organisation": HOSTILE, "stage": "surveyed", "status": "running"}],
    )
    _, out, _ = idri("withdraw", "c1", "--reason", "x", env=home, api=api)
    assert "warning: [bold red]x[/]" in out
    _, out, _ = idri("list", env=home | {"COLUMNS": "250"}, api=api)
    assert "[bold red]x[/] [link=https://evil.example]点我[/link]" in out
    assert "\x1b" not in out


# --- Signing in ----------------------------------------------------------------------------------


def test_login_keeps_the_token_mode_0600_and_logout_revokes_and_deletes_it(
    api: FakeApi, home: dict[str, str | None], tmp_path: Path
) -> None:
    user = {"name": "王科长", "role": "district_officer", "district": "binhai", "enabled": True}
    api.answer(
        "POST",
        "/api/sign-in",
        200,
        {"token": "tok-1", "expires_at": "2026-03-01T10:00:00+08:00", "user": user},
    )
    code, out, err = idri("login", "王科长", env=home, api=api, input="s3cret\n")
    assert code == 0, err
    token = tmp_path / "config" / "idri" / "token"
    assert token.read_text().strip() == "tok-1"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    assert api.received[0].body == {"name": "王科长", "password": "s3cret"}
    assert "authorization" not in api.received[0].headers, "signing in sends no old token"
    assert "s3cret" not in out

    api.answer("POST", "/api/sign-out", 200, {})
    code, out, _ = idri("logout", env=home, api=api)
    assert code == 0 and not token.exists()
    assert api.received[-1].headers["authorization"] == "Bearer tok-1"
    code, _, err = idri("logout", env=home, api=api)
    assert code == 1 and "not signed in" in one_line(err)


def test_logout_keeps_the_token_when_the_api_cannot_be_reached(
    home: dict[str, str | None], tmp_path: Path
) -> None:
    token = tmp_path / "config" / "idri" / "token"
    token.parent.mkdir(parents=True)
    token.write_text("tok")
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = idri("logout", env=home | {"IDRI_API_URL": url})
    assert code == 3 and "cannot reach the idri API" in one_line(err)
    assert token.exists(), "signing out again later must still be possible"


def test_user_add_with_a_password_asks_it_twice_and_prints_the_token_once(
    api: FakeApi, home: dict[str, str | None]
) -> None:
    user = {"name": "张教授", "role": "expert", "organisation": "天津大学", "enabled": True}
    api.answer("POST", "/api/users", 201, {"user": user, "token": "tok-expert"})
    code, out, err = idri(
        "user", "add", "张教授", "--role", "expert", "--org", "天津大学",
        "--email", "zhang@tju.example.cn", "--password", "--json",
        env=home, api=api, input="pw\npw\n",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out[out.index("{") :])["token"] == "tok-expert"
    assert api.received[0].body == {
        "name": "张教授", "role": "expert", "organisation": "天津大学",
        "email": "zhang@tju.example.cn", "password": "pw",
    }  # fmt: skip
    assert out.count("tok-expert") == 1


# --- What a case command loads, and how long it takes -----------------------------------------------


def _subprocess_env(api: FakeApi, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDRI_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | {
        "IDRI_API_URL": api.url,
        "IDRI_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(WORKTREE),
    }


@pytest.mark.parametrize(
    "args",
    [("status", "c1"), ("recommend", "c1", "--opinion", "推荐")],
    ids=["status", "recommend"],
)
def test_case_commands_import_neither_temporal_nor_the_database(
    api: FakeApi, tmp_path: Path, args: tuple[str, ...]
) -> None:
    api.answer("GET", "/api/cases/c1", 200, status_of("c1"))
    api.answer("POST", "/api/cases/c1/recommend", 200, status_of("c1", stage="recommended"))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=_subprocess_env(api, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "idri.cli._api" in modules, "the probe ran this worktree's CLI"
    heavy = {m.split(".")[0] for m in modules} & {"temporalio", "sqlalchemy", "sqlmodel", "httpx"}
    assert not heavy, f"`idri {args[0]}` imported {sorted(heavy)}"
