"""Templates and how a page is answered: autoescaped Jinja2, times in Beijing, labels in
Chinese with the English beside them."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from idri.service import labels
from idri.service.access import SEES_EVERY_CASE, may_survey
from idri.web.session import CSRF_FIELD, Session
from models.time import CST


def beijing(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as Beijing reads it (``2026-12-04 00:00``); empty for none."""
    return moment.astimezone(CST).strftime(fmt) if moment else ""


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("idri.web", "templates"),
        # Every value is escaped, whatever the template's name: organisation names, opinions and
        # refusals are other people's text.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bj"] = beijing
    env.globals.update(
        stage=labels.stage,
        event=labels.event,
        action=labels.action,
        level=labels.level,
        role=labels.role,
        district=labels.district,
        direction=labels.direction,
        csrf_field=CSRF_FIELD,
    )
    return env


def page(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    title: str,
    **context: Any,
) -> HTMLResponse:
    account = session.account if session else None
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            title=title,
            account=account,
            csrf=session.csrf if session else context.pop("csrf", ""),
            may_survey=bool(account and may_survey(account)),
            bureau=bool(account and account.role in SEES_EVERY_CASE),
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)
