"""Signing in and out of the workbench; CSRF; who sees what (over HTTP, without a browser)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from idri.auth.accounts import AccountRole
from tests.web.browserless import csrf_of, new_case, post_form, signed_in
from tests.web.conftest import Stack

pytestmark = [pytest.mark.devserver, pytest.mark.asyncio(loop_scope="session")]


async def test_a_page_without_a_session_leads_to_the_sign_in_form(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as client:
        answer = await client.get("/cases?stage=surveyed")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in?next=/cases%3Fstage%3Dsurveyed"


async def test_the_session_cookie_is_httponly_and_samesite(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as client:
        form = await client.get("/sign-in")
        answer = await client.post(
            "/sign-in",
            data={
                "name": "李处长",
                "password": "correct horse 1",
                "csrf_token": csrf_of(form.text),
            },
        )
        cookie = next(
            v for k, v in answer.headers.multi_items() if k == "set-cookie" and "idri_session" in v
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


async def test_a_wrong_password_is_refused_on_the_form(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as client:
        form = await client.get("/sign-in")
        answer = await client.post(
            "/sign-in", data={"name": "李处长", "password": "x", "csrf_token": csrf_of(form.text)}
        )
        assert answer.status_code == 401 and "用户名或密码错误" in answer.text


async def test_a_form_posted_without_its_csrf_token_is_refused(stack: Stack) -> None:
    async with signed_in(stack, "王科长") as officer:
        answer = await officer.post(
            "/cases/new", data={"organisation": "天津无令牌有限公司", "district": "binhai"}
        )
        assert answer.status_code == 403 and "CSRF" in answer.text
        wrong = await officer.post("/sign-out", data={"csrf_token": "0" * 64})
        assert wrong.status_code == 403
    async with httpx.AsyncClient(base_url=stack.url) as stranger:
        # Nor may another site sign someone in: the sign-in form has its token too.
        answer = await stranger.post("/sign-in", data={"name": "李处长", "password": "x"})
        assert answer.status_code == 403


async def test_sign_out_revokes_the_session(stack: Stack) -> None:
    async with signed_in(stack, "李处长") as officer:
        kept = officer.cookies.get("idri_session") or ""
        assert (await post_form(officer, "/work", "/sign-out")).status_code == 303
    async with httpx.AsyncClient(base_url=stack.url, cookies={"idri_session": kept}) as replay:
        assert (await replay.get("/work")).status_code == 303


async def test_a_disabled_account_is_out_at_the_next_request(stack: Stack) -> None:
    name = f"临时{uuid.uuid4().hex[:4]}"
    stack.services.accounts.add(
        "admin", name, role=AccountRole.BUREAU_OFFICER, password="correct horse 1"
    )
    async with signed_in(stack, name) as officer:
        assert (await officer.get("/work")).status_code == 200
        stack.services.accounts.disable("admin", name)
        assert (await officer.get("/work")).status_code == 303


async def test_names_are_escaped(stack: Stack) -> None:
    hostile = f"天津<script>alert(1)</script>{uuid.uuid4().hex[:4]}有限公司"
    case_id = await new_case(stack, hostile)
    async with signed_in(stack, "李处长") as officer:
        page = await officer.get(f"/cases/{case_id}")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "script-src" not in page.headers["content-security-policy"]


async def test_an_expert_opening_a_case_not_assigned_to_it_gets_403(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津未指派{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "孙工") as expert:
        answer = await expert.get(f"/cases/{case_id}")
        assert answer.status_code == 403
        assert "not an expert assigned" in answer.text
        listed = await expert.get("/cases")
        assert case_id not in listed.text


async def test_a_refusal_is_shown_on_the_form_with_the_workflows_message(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津拒绝{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "李处长") as officer:
        # A withdrawal without a reason: the workflow's validator refuses it, the page says why
        # on the form that was sent, and the case has not moved.
        answer = await post_form(
            officer, f"/cases/{case_id}", f"/cases/{case_id}/withdrawal", reason=" "
        )
        assert answer.status_code == 409
        refusal = answer.text.split('id="refusal-withdrawal">', 1)[1].split("</p>", 1)[0]
        assert "reason" in refusal, refusal
        assert "调研登记" in answer.text  # still surveyed
