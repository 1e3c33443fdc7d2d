"""What changes on a years-long case, through the API: willingness (企业自愿), contact and name,
the bureau's deadline extension; and the duplicate-construction warning (错位发展) kept on the
case."""

from __future__ import annotations

import asyncio
import uuid

from idri.auth.accounts import AccountRole
from tests.api.conftest import PLAN_SHA, Api


async def test_an_unwilling_candidate_waits_for_its_applicant_to_say_it_is_willing(
    api: Api,
) -> None:
    """政府引导、企业自愿: a candidate recorded as not willing takes no plan (409, unchanged) until
    its own applicant records its willingness; the bureau may not say it for it (403)."""
    organisation = f"天津自愿测试{uuid.uuid4().hex[:8]}有限公司"
    _, token = api.services.accounts.add(
        "admin", "自愿申请人", AccountRole.APPLICANT, organisation=organisation
    )
    api.tokens["自愿申请人"] = token
    body = {"organisation": organisation, "district": "binhai", "direction": "ai", "willing": False}
    case_id = (await api.ok("王科长", "POST", "/api/cases", body))["case_id"]
    for _ in range(50):
        status = await api.ok("李处长", "GET", f"/api/cases/{case_id}")
        if status["history_length"]:
            break
        await asyncio.sleep(0.1)
    assert (status["willing"], status["round_year"]) == (False, None)
    plan = {"file_name": "plan.pdf", "sha256": PLAN_SHA}
    refused = await api.call("自愿申请人", "POST", f"/api/cases/{case_id}/plan", plan)
    assert refused.status_code == 409 and "企业自愿" in refused.json()["detail"]
    denied = await api.call(
        "李处长", "POST", f"/api/cases/{case_id}/willingness", {"willing": True}
    )
    assert denied.status_code == 403
    assert await api.stage(case_id) == "surveyed"

    status = await api.ok(
        "自愿申请人", "POST", f"/api/cases/{case_id}/willingness", {"willing": True, "note": "愿意"}
    )
    assert status["willing"] is True and status["round_year"] is not None
    await api.ok("自愿申请人", "POST", f"/api/cases/{case_id}/plan", plan)
    assert await api.stage(case_id) == "plan_submitted"


async def test_a_renamed_applicant_keeps_its_case_and_the_old_values_are_in_the_history(
    api: Api,
) -> None:
    """创办主体企业: a renamed company's applicant account (under the former name) still sees and
    acts on its case; the history keeps the old name."""
    old = f"天津更名测试{uuid.uuid4().hex[:8]}有限公司"
    _, token = api.services.accounts.add(
        "admin", "更名申请人", AccountRole.APPLICANT, organisation=old
    )
    api.tokens["更名申请人"] = token
    case_id = await api.new_case(old)
    new = old.replace("有限公司", "集团有限公司")
    path = f"/api/cases/{case_id}/contact"
    empty = await api.call("更名申请人", "POST", path, {"note": "x"})
    assert empty.status_code == 422
    status = await api.ok(
        "更名申请人", "POST", path, {"organisation": new, "email": "new@example.cn"}
    )
    assert (status["organisation"], status["former_organisations"]) == (new, [old])
    assert (await api.call("更名申请人", "GET", f"/api/cases/{case_id}")).status_code == 200
    history = await api.ok("李处长", "GET", f"/api/cases/{case_id}/history")
    assert history[-1]["event"] == "change_contact" and old in history[-1]["reason"]
    assert "contact@example.cn" in history[-1]["reason"]


async def test_the_bureau_extends_a_rectification_deadline(api: Api) -> None:
    """督促整改: only the bureau moves the deadline, to a later date, with a reason."""
    case_id = await api.new_case()
    await api.to_stage(case_id, "rectifying")
    path = f"/api/cases/{case_id}/deadline"
    body = {"deadline": "rectification", "until": "2031-06-30", "reason": "延期申请获批"}
    assert (await api.call("王科长", "POST", path, body)).status_code == 403
    bad = await api.call("李处长", "POST", path, body | {"until": "2031-13-01"})
    assert bad.status_code == 422
    earlier = await api.call("李处长", "POST", path, body | {"until": "2029-01-01"})
    assert earlier.status_code == 409 and "later" in earlier.json()["detail"]
    status = await api.ok("李处长", "POST", path, body)
    assert status["rectification_due"].startswith("2031-07-01T00:00:00+08:00")


async def test_the_duplicate_construction_warning_is_kept_on_the_case(api: Api) -> None:
    """坚持错位发展，避免重复建设: a second candidate in the district and direction of an open
    one is warned when recorded, and its status keeps the warning for the reviewers."""
    first = await api.new_case()
    for _ in range(50):  # the registry has the first case once it recorded its first event
        if (await api.ok("李处长", "GET", f"/api/cases/{first}"))["history_length"]:
            break
        await asyncio.sleep(0.1)
    body = {
        "organisation": f"天津重复测试{uuid.uuid4().hex[:8]}有限公司",
        "district": "binhai",
        "direction": "high_end_equipment",
    }
    started = await api.ok("王科长", "POST", "/api/cases", body)
    [warning] = started["warnings"]
    assert "错位发展" in warning and first in warning
    status = await api.ok("李处长", "GET", f"/api/cases/{started['case_id']}")
    assert status["duplicate_warning"] == warning
