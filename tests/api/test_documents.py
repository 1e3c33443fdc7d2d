"""Documents are kept, not only hashed (issue 20, item 11), through the API: the creation plan
(创建方案) and the other papers of a case, stored by SHA-256, refused when hostile, given only
to those who may see the case."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.api.conftest import Api
from tests.documents.samples import EXE, PDF, PNG, office

pytestmark = [pytest.mark.devserver, pytest.mark.asyncio(loop_scope="session")]


def _kept(api: Api) -> list[Path]:
    assert api.services.documents is not None
    root = Path(api.services.documents.store.describe())
    return [p for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts]


async def _upload(api: Api, who: str, case_id: str, name: str, content: bytes, **params: str):
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}
    return await api.http.post(
        f"/api/cases/{case_id}/documents",
        params={"name": name, **params},
        content=content,
        headers=headers,
    )


async def test_the_plan_is_uploaded_recorded_with_size_and_hash_and_given_back(api: Api) -> None:
    """创建方案: the file itself is kept; the case records its name, size and SHA-256."""
    case_id = await api.new_case()
    answer = await _upload(api, "王科长", case_id, "创建方案.pdf", PDF)
    assert answer.status_code == 201, answer.text
    document = answer.json()["document"]
    sha = hashlib.sha256(PDF).hexdigest()
    assert (document["name"], document["sha256"], document["size"]) == (
        "创建方案.pdf",
        sha,
        len(PDF),
    )
    assert document["media_type"] == "application/pdf" and document["kept"] is True
    assert answer.json()["case"]["stage"] == "plan_submitted"
    history = await api.ok("李处长", "GET", f"/api/cases/{case_id}/history")
    assert history[-1]["event"] == "submit_plan"

    got = await api.call("王科长", "GET", f"/api/cases/{case_id}/documents/创建方案.pdf")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-idri-sha256"] == sha
    listed = await api.ok("李处长", "GET", f"/api/cases/{case_id}/documents")
    assert [(d["name"], d["kind"], d["size"]) for d in listed] == [
        ("创建方案.pdf", "plan", len(PDF))
    ]
    # Kept under its hash only: the name never reaches the filesystem.
    assert any(p.name == sha for p in _kept(api))
    assert not any("创建方案" in str(p) for p in _kept(api))


async def test_documents_are_given_only_to_those_who_may_see_the_case(api: Api) -> None:
    case_id = await api.new_case()
    assert (await _upload(api, "王科长", case_id, "plan.pdf", PDF)).status_code == 201
    path = f"/api/cases/{case_id}/documents/plan.pdf"
    for outsider in ("刘科长", "陈工", "别家"):
        answer = await api.call(outsider, "GET", path)
        assert answer.status_code == 403, (outsider, answer.text)
        listed = await api.call(outsider, "GET", f"/api/cases/{case_id}/documents")
        assert listed.status_code == 403
    assert (await api.call(None, "GET", path)).status_code == 401
    missing = await api.call("李处长", "GET", f"/api/cases/{case_id}/documents/other.pdf")
    assert missing.status_code == 404 and "plan.pdf" in missing.json()["detail"]


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..", "a/b.pdf", "a\\b.pdf", ".hidden.pdf", "plan.exe", "x\n.pdf"],
)
async def test_a_name_that_is_a_path_or_not_a_document_is_refused(api: Api, name: str) -> None:
    case_id = await api.new_case()
    before = _kept(api)
    answer = await _upload(api, "王科长", case_id, name, PDF)
    assert answer.status_code == 422, answer.text
    assert await api.stage(case_id) == "surveyed"
    assert _kept(api) == before


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("plan.pdf", EXE, "not a PDF, DOCX, XLSX or image"),
        ("plan.pdf", PNG, "a PNG image"),
        ("plan.docx", office("zip"), "a ZIP archive"),
        ("plan.xlsx", office("word"), "a Word document"),
        ("plan.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "an old Office file"),
    ],
)
async def test_the_type_is_judged_by_the_content_not_the_name(
    api: Api, name: str, content: bytes, said: str
) -> None:
    case_id = await api.new_case()
    answer = await _upload(api, "王科长", case_id, name, content)
    assert answer.status_code == 415, answer.text
    assert said in answer.json()["detail"]
    assert await api.stage(case_id) == "surveyed"


async def test_an_upload_declared_larger_than_the_limit_is_refused_before_it_is_read(
    api: Api,
) -> None:
    """A 2 GB upload: refused from its Content-Length, nothing read, nothing kept."""
    case_id = await api.new_case()
    headers = {
        "Authorization": f"Bearer {api.tokens['王科长']}",
        "Content-Length": str(2 * 1024**3),
    }
    answer = await api.http.post(
        f"/api/cases/{case_id}/documents", params={"name": "big.pdf"}, content=PDF, headers=headers
    )
    assert answer.status_code == 413 and "IDRI_DOCUMENT_MAX_BYTES" in answer.json()["detail"]


async def test_a_multipart_form_uploads_a_recommendation_form(api: Api) -> None:
    """推荐意见 (附件3) as a Word document, from a browser's form."""
    case_id = await api.new_case()
    await api.to_stage(case_id, "plan_submitted")
    docx = office("word")
    answer = await api.http.post(
        f"/api/cases/{case_id}/documents",
        files={"file": ("推荐意见表.docx", docx, "application/octet-stream")},
        data={"kind": "recommendation"},
        headers={"Authorization": f"Bearer {api.tokens['王科长']}"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["document"]["kind"] == "recommendation"
    assert answer.json()["case"]["stage"] == "plan_submitted"  # a document moves no stage
    got = await api.call("李处长", "GET", f"/api/cases/{case_id}/documents/推荐意见表.docx")
    assert got.content == docx
    history = await api.ok("李处长", "GET", f"/api/cases/{case_id}/history")
    assert history[-1]["event"] == "attach_document"


async def test_a_document_kind_is_attached_by_its_role_at_its_stage(api: Api) -> None:
    case_id = await api.new_case()
    # An inspection report is the bureau's, during review.
    by_district = await _upload(api, "王科长", case_id, "考查.pdf", PDF, kind="inspection")
    assert by_district.status_code == 403 and "bureau_officer" in by_district.json()["detail"]
    too_early = await _upload(api, "李处长", case_id, "考查.pdf", PDF, kind="inspection")
    assert too_early.status_code == 403 and "under_review" in too_early.json()["detail"]
    unknown = await _upload(api, "李处长", case_id, "x.pdf", PDF, kind="invoice")
    assert unknown.status_code == 422 and "kinds:" in unknown.json()["detail"]


async def test_a_plan_recorded_by_its_hash_alone_says_its_content_was_never_uploaded(
    api: Api,
) -> None:
    case_id = await api.new_case()
    await api.to_stage(case_id, "plan_submitted")  # POST /plan: the name and a hash only
    answer = await api.call("李处长", "GET", f"/api/cases/{case_id}/documents/plan.pdf")
    assert answer.status_code == 404 and "never uploaded" in answer.json()["detail"]
