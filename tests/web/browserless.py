"""Speaking to the workbench as a browser does, without one: forms, cookies, CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.web.conftest import PASSWORD, Stack

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


@asynccontextmanager
async def signed_in(stack: Stack, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in through the sign-in form (its cookies kept, redirects not followed)."""
    async with httpx.AsyncClient(base_url=stack.url) as client:
        form = await client.get("/sign-in")
        answer = await client.post(
            "/sign-in",
            data={"name": name, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        assert answer.status_code == 303, answer.text
        yield client


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, **fields: Any
) -> httpx.Response:
    """Post a form of ``page`` with that page's CSRF token, as the browser would."""
    html = (await client.get(page)).text
    return await client.post(action, data={**fields, "csrf_token": csrf_of(html)})


async def new_case(stack: Stack, organisation: str) -> str:
    """A case recorded by the district officer through the workbench's form."""
    async with signed_in(stack, "王科长") as officer:
        answer = await post_form(
            officer,
            "/cases/new",
            "/cases/new",
            organisation=organisation,
            district="binhai",
            direction="high_end_equipment",
            contact_name="赵经理",
            contact_email="contact@example.cn",
            willing="on",
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["location"].removeprefix("/cases/")
