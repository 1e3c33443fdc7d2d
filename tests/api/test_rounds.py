"""择优 through the API: a round's ranking, batch approval, the ministry's call."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import CRITERIA_SCORES, PANEL, Api


async def _reviewed(api: Api, scores: dict[str, float], passed: bool) -> str:
    case_id = await api.new_case()
    await api.to_stage(case_id, "recommended")
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": PANEL})
    for expert in PANEL:
        review = {"scores": scores, "opinion": "评审"}
        await api.ok(expert, "POST", f"/api/cases/{case_id}/reviews", review)
    inspection: dict[str, Any] = {"passed": passed, "note": "现场考查"}
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/inspection", inspection)
    return case_id


async def test_a_round_is_ranked_by_the_panel_and_approved_in_one_batch(api: Api) -> None:
    """择优确定为市级工业设计研究院: the round's cases, best aggregate score first, with what each
    still needs; a batch with a case not ready approves none; a ready batch shares one notice."""
    good = await _reviewed(api, CRITERIA_SCORES, passed=True)  # aggregate 87
    best_but_failed = await _reviewed(api, dict.fromkeys(CRITERIA_SCORES, 95.0), passed=False)
    waiting = await api.new_case()
    await api.to_stage(waiting, "recommended")
    year = (await api.ok("李处长", "GET", f"/api/cases/{good}"))["round_year"]

    rows = await api.ok("李处长", "GET", f"/api/rounds/{year}")
    ranked = [r["case_id"] for r in rows if r["case_id"] in (good, best_but_failed, waiting)]
    assert ranked == [best_but_failed, good, waiting]
    by_id = {r["case_id"]: r for r in rows}
    assert (by_id[best_but_failed]["score"], by_id[good]["score"]) == (95.0, 87.0)
    assert "the site inspection failed" in by_id[best_but_failed]["missing"][0]
    assert by_id[good]["missing"] == [] and by_id[waiting]["missing"] == ["experts to assign"]
    assert by_id[waiting]["score"] is None

    assert (await api.call("陈工", "GET", f"/api/rounds/{year}")).status_code == 403
    assert await api.ok("刘科长", "GET", f"/api/rounds/{year}") == []

    body = {"cases": [good, best_but_failed], "reason": "择优"}
    refused = await api.call("李处长", "POST", f"/api/rounds/{year}/approvals", body)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("nothing approved:")
    assert best_but_failed in refused.json()["detail"]
    assert await api.stage(good) == "under_review"

    other = await _reviewed(api, CRITERIA_SCORES, passed=True)
    body = {"cases": [good, other], "reason": "择优：综合评价前二"}
    done = await api.ok("李处长", "POST", f"/api/rounds/{year}/approvals", body)
    assert [s["stage"] for s in done["cases"]] == ["public_notice", "public_notice"]
    assert {(s["notice"]["start"], s["notice"]["end"]) for s in done["cases"]} == {
        (done["notice"]["start"], done["notice"]["end"])
    }
    history = await api.ok("李处长", "GET", f"/api/cases/{other}/history")
    assert history[-1]["event"] == "approve"


async def test_a_batch_names_each_case_once_and_only_the_bureau_approves(api: Api) -> None:
    """择优: a batch is the bureau's, and each case is named once."""
    case_id = await _reviewed(api, CRITERIA_SCORES, passed=True)
    year = (await api.ok("李处长", "GET", f"/api/cases/{case_id}"))["round_year"]
    body = {"cases": [case_id, case_id], "reason": "择优"}
    twice = await api.call("李处长", "POST", f"/api/rounds/{year}/approvals", body)
    assert twice.status_code == 422 and "named twice" in twice.json()["detail"]
    body = {"cases": [case_id], "reason": "择优"}
    district = await api.call("王科长", "POST", f"/api/rounds/{year}/approvals", body)
    assert district.status_code == 403
    assert await api.stage(case_id) == "under_review"


async def test_the_ministry_s_call_is_answered_with_the_criteria(api: Api) -> None:
    """根据工业和信息化部统一部署…行业优势突出、服务良好、稳定运行2年以上: the nomination records the
    criteria; the ministry's outcome follows as before."""
    case_id = await api.new_case()
    await api.to_stage(case_id, "designated")
    body = {"call": "工信部创建通知", "industry_advantage": "行业领先", "service": "服务良好"}
    status = await api.ok("李处长", "POST", f"/api/cases/{case_id}/national/nomination", body)
    assert status["stage"] == "national_review"
    assert status["nomination"]["call"] == "工信部创建通知"
    assert status["nomination"]["industry_advantage"] == "行业领先"
    wrong = await api.call("李处长", "POST", f"/api/cases/{case_id}/national/nomination", body)
    assert wrong.status_code == 409
    status = await api.ok("李处长", "POST", f"/api/cases/{case_id}/national", {"designated": True})
    assert status["level"] == "national"
