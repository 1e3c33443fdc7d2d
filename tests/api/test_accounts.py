"""Accounts through the API: sign-in and its throttle, tokens that expire and are revoked, a
disabled account out at once, and account management for admins only."""

from __future__ import annotations

import uuid
from datetime import timedelta

from idri.auth.accounts import AccountRole
from tests.api.conftest import Api


async def test_no_token_or_a_bad_one_is_401_and_says_how_to_sign_in(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer idri_not-a-real-token"}):
        answer = await api.http.get("/api/me", headers=headers)
        assert answer.status_code == 401
        assert "idri login" in answer.json()["detail"]
        assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_sign_in_gives_a_token_that_works_and_sign_out_revokes_it(api: Api) -> None:
    answer = await api.http.post(
        "/api/sign-in", json={"name": "陈工", "password": "correct horse 1"}
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert answer.json()["user"]["role"] == "expert"
    me = await api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "陈工"
    out = await api.http.post("/api/sign-out", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200
    again = await api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401


async def test_failed_sign_ins_are_throttled_with_retry_after(api: Api) -> None:
    name = f"试错{uuid.uuid4().hex[:6]}"
    api.services.accounts.add(
        "admin", name, AccountRole.BUREAU_OFFICER, password="the right password"
    )
    statuses = []
    for _ in range(7):
        answer = await api.http.post("/api/sign-in", json={"name": name, "password": "wrong!!"})
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[-1] == 429
    assert int(answer.headers["Retry-After"]) >= 1
    # Even the right password waits out the throttle.
    right = await api.http.post(
        "/api/sign-in", json={"name": name, "password": "the right password"}
    )
    assert right.status_code == 429
    api.clock.offset += timedelta(minutes=16)
    try:
        right = await api.http.post(
            "/api/sign-in", json={"name": name, "password": "the right password"}
        )
        assert right.status_code == 200, right.text
    finally:
        api.clock.offset -= timedelta(minutes=16)


async def test_a_token_expires(api: Api) -> None:
    name = f"过期{uuid.uuid4().hex[:6]}"
    _, token = api.services.accounts.add("admin", name, AccountRole.BUREAU_OFFICER)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.http.get("/api/me", headers=headers)).status_code == 200
    api.clock.offset += timedelta(days=91)
    try:
        answer = await api.http.get("/api/me", headers=headers)
        assert answer.status_code == 401
    finally:
        api.clock.offset -= timedelta(days=91)


async def test_a_disabled_account_is_out_at_once(api: Api) -> None:
    name = f"停用{uuid.uuid4().hex[:6]}"
    created = await api.ok(
        "admin",
        "POST",
        "/api/users",
        {"name": name, "role": "district_officer", "district": "滨海新区"},
    )
    assert created["user"]["district"] == "binhai"
    token = created["token"]
    case_id = await api.new_case()
    assert (
        await api.http.get(f"/api/cases/{case_id}", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    disabled = await api.ok("admin", "POST", f"/api/users/{name}/disable")
    assert disabled["enabled"] is False
    answer = await api.http.get(
        f"/api/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401


async def test_only_an_admin_manages_accounts(api: Api) -> None:
    body = {"name": f"越权{uuid.uuid4().hex[:6]}", "role": "admin"}
    for who in ("李处长", "王科长", "陈工", "申请人"):
        answer = await api.call(who, "POST", "/api/users", body)
        assert answer.status_code == 403, who
        assert (await api.call(who, "GET", "/api/users")).status_code == 403
    names = [u["name"] for u in await api.ok("admin", "GET", "/api/users")]
    assert body["name"] not in names
    assert {"admin", "李处长", "陈工"} <= set(names)


async def test_account_refusals_are_specific(api: Api) -> None:
    cases = [
        ({"name": "李处长", "role": "bureau_officer"}, 409),
        ({"name": f"x{uuid.uuid4().hex[:4]}", "role": "district_officer"}, 422),
        ({"name": f"x{uuid.uuid4().hex[:4]}", "role": "expert", "organisation": "天大"}, 422),
        ({"name": f"x{uuid.uuid4().hex[:4]}", "role": "wizard"}, 422),
        ({"name": "bad\x1b[31mname", "role": "bureau_officer"}, 422),
    ]
    for body, status in cases:
        answer = await api.call("admin", "POST", "/api/users", body)
        assert answer.status_code == status, (body, answer.text)


async def test_a_new_token_works_and_the_answer_never_echoes_a_password(api: Api) -> None:
    answer = await api.call(
        "admin", "POST", "/api/users", {"name": "x", "role": "expert", "password": "s3cret-value!"}
    )
    assert answer.status_code == 422
    assert "s3cret-value!" not in answer.text
    renewed = await api.ok("admin", "POST", "/api/users/赵工/token")
    me = await api.http.get("/api/me", headers={"Authorization": f"Bearer {renewed['token']}"})
    assert me.json()["name"] == "赵工"


async def test_every_request_is_logged_without_its_secrets(api: Api) -> None:
    import structlog

    with structlog.testing.capture_logs() as logs:
        signed = await api.http.post(
            "/api/sign-in", json={"name": "赵工", "password": "correct horse 1"}
        )
        token = signed.json()["token"]
        await api.http.post("/api/sign-in", json={"name": "赵工", "password": "wrong-secret-x"})
        await api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    requests = [entry for entry in logs if entry["event"] == "request"]
    assert [(r["path"], r["status"]) for r in requests] == [
        ("/api/sign-in", 200),
        ("/api/sign-in", 401),
        ("/api/me", 200),
    ]
    assert requests[0]["user"] == "赵工" and requests[0]["action"] == "sign-in"
    assert requests[2]["user"] == "赵工"
    text = repr(logs)
    for secret in ("correct horse 1", "wrong-secret-x", token):
        assert secret not in text
