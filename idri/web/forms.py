"""The case page's action forms: which ones the caller sees, and how a posted form becomes
the service call the API's route makes with a JSON body.

A form is shown when the case allows one of its actions now and the caller's role may take it
(``idri.service.access.actions_for``); the workflow still decides when it arrives, and its
refusal is shown on the form. Parsing turns text fields into the strict bodies of
``idri.service.actions``; nothing here decides who may do what.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from idri.auth.accounts import Account
from idri.service import actions as a
from idri.service.cases import CaseService, CaseView
from idri.service.errors import Invalid


@dataclass(frozen=True)
class ActionForm:
    key: str
    """The form's name: its URL (``/cases/{id}/{key}``) and its template block."""
    zh: str
    en: str
    actions: frozenset[str]
    """The workflow actions this form sends; it is shown when one of them is allowed now."""


FORMS: tuple[ActionForm, ...] = (
    ActionForm("plan", "提交创建方案", "Submit the creation plan", frozenset({"submit_plan"})),
    ActionForm("recommend", "区级推荐", "Recommend", frozenset({"recommend"})),
    ActionForm("experts", "指派评审专家", "Assign experts", frozenset({"assign_expert"})),
    ActionForm("review", "提交评审意见", "Submit a review", frozenset({"submit_review"})),
    ActionForm("inspection", "现场考查", "Site inspection", frozenset({"record_inspection"})),
    ActionForm("decision", "综合评价", "Decision", frozenset({"approve", "defer", "reject"})),
    ActionForm("objection", "登记公示异议", "Record an objection", frozenset({"lodge_objection"})),
    ActionForm(
        "resolve",
        "处理异议",
        "Resolve an objection",
        frozenset({"uphold_objection", "dismiss_objection"}),
    ),
    ActionForm(
        "evaluation-open", "启动跟踪评估", "Open the evaluation", frozenset({"open_evaluation"})
    ),
    ActionForm(
        "evaluation",
        "跟踪评估结果",
        "Evaluation result",
        frozenset({"rate_good", "order_rectification", "delist", "recommend_national"}),
    ),
    ActionForm(
        "rectification", "整改完成", "Rectification done", frozenset({"complete_rectification"})
    ),
    ActionForm(
        "national", "国家级评定结果", "National outcome", frozenset({"record_national_outcome"})
    ),
    ActionForm("withdrawal", "撤回申请", "Withdraw", frozenset({"withdraw"})),
)
BY_KEY = {form.key: form for form in FORMS}


def shown(may_take: list[str]) -> list[ActionForm]:
    """The forms for the actions the caller may take now, in the lifecycle's order."""
    wanted = set(may_take)
    return [form for form in FORMS if form.actions & wanted]


Call = Callable[[CaseService, Account, str], Awaitable[CaseView]]


def call_for(key: str, form: FormData) -> Call:
    """The service call a posted form asks for; :class:`Invalid` (shown on the form) when a
    field is missing or malformed."""
    try:
        return _PARSERS[key](form)
    except ValidationError as error:
        raise Invalid(_problems(error)) from None


def _act(body: a.CaseAction) -> Call:
    return lambda cases, account, case_id: cases.act(account, case_id, body)


def _plan(form: FormData) -> Call:
    return _act(a.SubmitPlan(file_name=_text(form, "file_name"), sha256=_text(form, "sha256")))


def _recommend(form: FormData) -> Call:
    return _act(a.Recommend(opinion=_text(form, "opinion"), national=form.get("national") == "on"))


def _experts(form: FormData) -> Call:
    names = [n for n in _text(form, "experts").replace("，", ",").replace(",", " ").split() if n]
    body = a.AssignExperts(experts=names)
    return lambda cases, account, case_id: cases.assign_experts(account, case_id, body)


def _review(form: FormData) -> Call:
    body = a.SubmitReview(
        score=_number(form, "score", "评分 score"),
        opinion=_text(form, "opinion"),
        expert=_text(form, "expert") or None,
    )
    return lambda cases, account, case_id: cases.submit_review(account, case_id, body)


def _inspection(form: FormData) -> Call:
    return _act(a.Inspect(passed=_yes_no(form, "passed"), note=_text(form, "note")))


def _decision(form: FormData) -> Call:
    outcome: Any = _text(form, "outcome")
    return _act(a.Decide(outcome=outcome, reason=_text(form, "reason")))


def _objection(form: FormData) -> Call:
    return _act(a.Object(by=_text(form, "by"), reason=_text(form, "reason")))


def _resolve(form: FormData) -> Call:
    which = _text(form, "objection")
    return _act(
        a.ResolveObjection(
            upheld=_yes_no(form, "upheld"),
            reason=_text(form, "reason"),
            objection=int(_number(form, "objection", "异议编号")) if which else None,
        )
    )


def _evaluation_open(form: FormData) -> Call:
    return _act(a.OpenEvaluation(note=_text(form, "note")))


def _evaluation(form: FormData) -> Call:
    result: Any = _text(form, "result")
    return _act(
        a.RecordEvaluation(
            result=result, note=_text(form, "note"), deadline=_text(form, "deadline") or None
        )
    )


def _rectification(form: FormData) -> Call:
    return _act(a.ReportRectification(report=_text(form, "report")))


def _national(form: FormData) -> Call:
    return _act(a.RecordNational(designated=_yes_no(form, "designated"), note=_text(form, "note")))


def _withdrawal(form: FormData) -> Call:
    return _act(a.Withdraw(reason=_text(form, "reason")))


_PARSERS: dict[str, Callable[[FormData], Call]] = {
    "plan": _plan,
    "recommend": _recommend,
    "experts": _experts,
    "review": _review,
    "inspection": _inspection,
    "decision": _decision,
    "objection": _objection,
    "resolve": _resolve,
    "evaluation-open": _evaluation_open,
    "evaluation": _evaluation,
    "rectification": _rectification,
    "national": _national,
    "withdrawal": _withdrawal,
}
assert set(_PARSERS) == set(BY_KEY), "every form has its parser"


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise Invalid(f"字段 {name} 应为文本 ({name} must be text, not a file)")
    return value.strip()


def _number(form: FormData, name: str, what: str) -> float:
    text = _text(form, name)
    try:
        return float(text)
    except ValueError:
        raise Invalid(f"{what} 须为数字 (must be a number, not {text!r})") from None


def _yes_no(form: FormData, name: str) -> bool:
    value = _text(form, name)
    if value not in ("yes", "no"):
        raise Invalid(f"请选择“是”或“否” (choose yes or no for {name})")
    return value == "yes"


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem.get('msg', '')}" if where else problem.get("msg", ""))
    return "; ".join(parts)
