"""The bureau's report (``idri/reports.py``) for a signed-in account: the bureau's to read, as
it names overdue cases and where the programme stands against the plan's goals."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio.client import Client

from idri.auth.accounts import Account
from idri.reports import Report, build_report
from idri.service.access import SEES_EVERY_CASE
from idri.service.errors import Forbidden
from idri.settings import Settings


async def bureau_report(
    account: Account, engine: Engine, client: Client, settings: Settings
) -> Report:
    if account.role not in SEES_EVERY_CASE:
        raise Forbidden(f"the report is the bureau's; {account.name} is {account.role.value}")
    return await build_report(engine, settings, client=client, now=datetime.now(UTC))
