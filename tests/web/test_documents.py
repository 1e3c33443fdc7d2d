"""The case page's documents: the upload form and the downloads, over the service the API's
documents routes call (same checks, same refusals, same visibility)."""

from __future__ import annotations

import uuid

import pytest

from tests.web.browserless import csrf_of, new_case, signed_in, small_pdf, upload
from tests.web.conftest import Stack

pytestmark = [pytest.mark.devserver, pytest.mark.asyncio(loop_scope="session")]


async def test_the_district_uploads_the_plan_and_the_bureau_downloads_it(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津上传{uuid.uuid4().hex[:6]}有限公司")
    plan = small_pdf("Plan of the case")
    async with signed_in(stack, "王科长") as officer:
        form = (await officer.get(f"/cases/{case_id}")).text
        assert 'enctype="multipart/form-data"' in form and 'name="kind"' in form
        answer = await upload(officer, case_id, "创建方案.pdf", plan)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"/cases/{case_id}#documents"
        page = (await officer.get(f"/cases/{case_id}")).text
        assert "stage-plan_submitted" in page  # the upload was the plan's submission
    async with signed_in(stack, "李处长") as bureau:
        page = (await bureau.get(f"/cases/{case_id}")).text
        link = f"/cases/{case_id}/documents/%E5%88%9B%E5%BB%BA%E6%96%B9%E6%A1%88.pdf"
        assert f'href="{link}"' in page
        got = await bureau.get(link)
        assert got.status_code == 200 and got.content == plan
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["content-disposition"].startswith("attachment;")


async def test_an_upload_without_its_csrf_token_is_refused(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津无令牌上传{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "王科长") as officer:
        answer = await upload(officer, case_id, "创建方案.pdf", small_pdf(), csrf=False)
        assert answer.status_code == 403 and "CSRF" in answer.text
        page = (await officer.get(f"/cases/{case_id}")).text
        assert "暂无材料" in page  # nothing recorded


async def test_a_file_whose_content_is_not_its_type_is_refused_on_the_form(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津错类型{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "王科长") as officer:
        answer = await upload(officer, case_id, "创建方案.pdf", b"\x89PNG\r\n\x1a\n" + b"0" * 64)
        assert answer.status_code == 415
        refusal = answer.text.split('id="refusal-documents">', 1)[1].split("</p>", 1)[0]
        assert "PDF" in refusal and "PNG" in refusal, refusal


async def test_a_file_larger_than_the_limit_is_refused_on_the_form(stack: Stack) -> None:
    documents = stack.services.documents
    assert documents is not None
    case_id = await new_case(stack, f"天津过大{uuid.uuid4().hex[:6]}有限公司")
    kept, documents.max_bytes = documents.max_bytes, 200
    try:
        async with signed_in(stack, "王科长") as officer:
            answer = await upload(officer, case_id, "创建方案.pdf", small_pdf())
    finally:
        documents.max_bytes = kept
    assert answer.status_code == 413
    refusal = answer.text.split('id="refusal-documents">', 1)[1].split("</p>", 1)[0]
    assert "larger than the 200 bytes" in refusal and "nothing was kept" in refusal


async def test_a_hostile_document_name_is_escaped(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津名字{uuid.uuid4().hex[:6]}有限公司")
    name = "<img src=x onerror=alert(1)>.pdf"
    async with signed_in(stack, "王科长") as officer:
        answer = await upload(officer, case_id, name, small_pdf())
        assert answer.status_code == 303, answer.text
        page = (await officer.get(f"/cases/{case_id}")).text
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in page


async def test_an_expert_not_assigned_can_neither_download_nor_upload(stack: Stack) -> None:
    case_id = await new_case(stack, f"天津专家外{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "王科长") as officer:
        assert (await upload(officer, case_id, "plan.pdf", small_pdf())).status_code == 303
    async with signed_in(stack, "孙工") as expert:
        got = await expert.get(f"/cases/{case_id}/documents/plan.pdf")
        assert got.status_code == 403 and b"%PDF" not in got.content
        token_page = (await expert.get("/work")).text  # a valid token of its own session
        answer = await expert.post(
            f"/cases/{case_id}/documents",
            data={"kind": "plan", "csrf_token": csrf_of(token_page)},
            files={"file": ("plan2.pdf", small_pdf())},
        )
        assert answer.status_code == 403
        assert "plan2.pdf" not in answer.text


async def test_the_upload_form_offers_only_the_kinds_the_role_may_upload_now(
    stack: Stack,
) -> None:
    case_id = await new_case(stack, f"天津种类{uuid.uuid4().hex[:6]}有限公司")
    async with signed_in(stack, "王科长") as officer:
        page = (await officer.get(f"/cases/{case_id}")).text
        assert 'value="plan"' in page and 'value="recommendation"' in page
        assert 'value="inspection"' not in page
    async with signed_in(stack, "李处长") as bureau:
        # The bureau attaches no document to a surveyed case: no upload form at all.
        assert 'id="form-documents"' not in (await bureau.get(f"/cases/{case_id}")).text
