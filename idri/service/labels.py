"""Display names in Chinese and English (stages, events, roles, districts, directions) for the
workbench: the labels the mails and public pages use (``activities/templates/labels.json``),
so a stage reads the same in a mail and on a page."""

from __future__ import annotations

from activities.templates import direction, district, label

__all__ = ["action", "direction", "district", "event", "level", "role", "stage"]

# The account roles' names; the case roles' names in labels.json are the mails' (bureau, ...).
_ROLES = {
    "admin": {"zh": "系统管理员", "en": "Administrator"},
    "bureau_officer": {"zh": "市工业和信息化局", "en": "Bureau officer"},
    "district_officer": {"zh": "区工业和信息化主管部门", "en": "District officer"},
    "expert": {"zh": "评审专家", "en": "Expert"},
    "applicant": {"zh": "创建主体", "en": "Applicant"},
    "system": {"zh": "系统（定时）", "en": "System (timers)"},
}


def stage(code: str | None) -> dict[str, str]:
    return label("stages", code)


def event(code: str | None) -> dict[str, str]:
    return label("events", code)


# The inbox's actions that are not one event of the history (``models.inbox``).
_ACTIONS = {
    "decide": {"zh": "综合评价", "en": "Decision"},
    "resolve_objection": {"zh": "处理异议", "en": "Resolve an objection"},
    "record_evaluation": {"zh": "跟踪评估结果", "en": "Record the evaluation"},
}


def action(code: str | None) -> dict[str, str]:
    """An inbox item's action: the event it records, or the form that ends it."""
    return _ACTIONS.get(code or "") or event(code)


def level(code: str | None) -> dict[str, str]:
    return label("levels", code)


def role(code: str | None) -> dict[str, str]:
    return _ROLES.get(code or "", {"zh": code or "", "en": code or ""})
