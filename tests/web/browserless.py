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


def small_pdf(text: str = "Creation plan") -> bytes:
    """A real one-page PDF (a viewer opens it), built by hand: a few hundred bytes."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


async def upload(
    client: httpx.AsyncClient,
    case_id: str,
    name: str,
    content: bytes,
    *,
    kind: str = "plan",
    csrf: bool = True,
) -> httpx.Response:
    """Post the case page's upload form (multipart), with the page's CSRF token unless told."""
    fields = {"kind": kind}
    if csrf:
        fields["csrf_token"] = csrf_of((await client.get(f"/cases/{case_id}")).text)
    return await client.post(
        f"/cases/{case_id}/documents", data=fields, files={"file": (name, content)}
    )
