"""企业自愿 (participation is voluntary): an organisation that does not want to build an institute
is recorded, but not chased, until it says it is willing."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.schedules import RegistrySource
from activities.tables import WaitRow
from models.case import Actor, Role, Stage
from tests.lifecycle.changes_kit import (
    APPLICANT,
    mail_harness,
    registry_of,
    start_case,
    trail_events,
    willing,
)
from tests.lifecycle.harness import BUREAU, refused


async def test_an_unwilling_organisation_is_recorded_but_never_chased(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """政府引导、企业自愿: recorded with willing=no, it belongs to no round, gets no round reminder
    and misses no round, across two years; every case action waits for its willingness."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await start_case(h, willing=False)
        status = await case.status()
        assert (status.stage, status.willing, status.round_year) == (Stage.SURVEYED, False, None)
        assert status.deadline is None
        assert status.allowed_actions == ["record_willingness", "withdraw"]

        await h.env.sleep(timedelta(days=2 * 365))
        assert trail_events(h, case) == ["created"], "no reminder, no missed round"
        with registry_of(h) as engine, Session(engine) as session:
            waits = session.exec(select(WaitRow).where(col(WaitRow.case_id) == case.case_id))
            assert list(waits) == [], "nobody's work: not in any inbox"
        with registry_of(h) as engine:
            source = RegistrySource(engine)
            for year in range((await h.now()).year - 2, (await h.now()).year + 2):
                assert case.case_id not in {c.case_id for c in await source.open_candidates(year)}

        before = (await case.status()).history_length
        message = await refused(case.submit_plan())
        assert "企业自愿" in message and "willing" in message
        assert (await case.status()).history_length == before
        assert (await case.stage()) is Stage.SURVEYED


async def test_saying_it_is_willing_joins_the_round_and_its_reminders(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """企业自愿: once the applicant says it is willing, the case joins the current round (its
    reminders come before 30 April) and its actions are open."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await start_case(h, willing=False)
        status = await willing(case, True, APPLICANT)
        assert status.willing and status.round_year is not None
        assert status.deadline is not None and status.deadline.kind == "round_reminder"
        assert "submit_plan" in status.allowed_actions
        history = await case.handle.query("history")
        assert history[-1]["event"] == "record_willingness" and history[-1]["actor"] == "赵经理"

        status = await case.submit_plan()
        assert status.stage is Stage.PLAN_SUBMITTED
        assert status.deadline is not None
        await h.env.sleep(status.deadline.at - await h.now() + timedelta(hours=1))
        assert "round_reminder" in trail_events(h, case)


async def test_willingness_is_the_districts_or_the_applicants_to_record(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """企业自愿: the organisation speaks for itself (or its district for it): the bureau cannot
    declare it willing, nor a district officer of another district; a repeat is refused."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await start_case(h, willing=False)
        assert "permission denied" in await refused(willing(case, True, BUREAU))
        other = Actor("刘科长", Role.DISTRICT_OFFICER, "heping")
        assert "belongs to binhai" in await refused(willing(case, True, other))
        assert "already recorded as not willing" in await refused(willing(case, False))
        assert (await case.status()).history_length == 1


async def test_no_longer_willing_leaves_the_round_and_after_recommendation_withdraws(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """企业自愿: an organisation that changes its mind before its recommendation leaves its round
    (no reminders, no missed rounds); after the recommendation it withdraws instead."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await start_case(h)
        status = await willing(case, False)
        assert (status.willing, status.round_year, status.deadline) == (False, None, None)
        await h.env.sleep(timedelta(days=400))
        assert "miss_round" not in trail_events(h, case)

        other = await start_case(h, organisation="天津另一设计有限公司")
        await other.submit_plan()
        await other.recommend()
        message = await refused(willing(other, False))
        assert "withdraw" in message and (await other.stage()) is Stage.RECOMMENDED
