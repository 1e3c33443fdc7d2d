"""The expert panel: a minimum panel, scores on criteria, and a site inspection that passed.

The plan: "市工业和信息化局组织专家通过评审和现场考查，对各区推荐的工业设计研究院建设和发展情况进行综合评价"
(experts review and inspect the site; the bureau evaluates comprehensively).
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from models.case import (
    Actor,
    ExpertReview,
    Outcome,
    Role,
    SiteInspection,
    Stage,
)
from tests.lifecycle.harness import BUREAU, Case, accepted_updates, harness, refused
from workflows.institute import InstituteWorkflow

PANEL = [("张教授", "天津大学"), ("陈工", "河北工业大学"), ("刘研究员", "天津理工大学")]


async def reviewed_by(case: Case, panel: list[tuple[str, str]]) -> None:
    await case.submit_plan()
    await case.recommend()
    for number, (expert, organisation) in enumerate(panel):
        await case.assign(expert, organisation)
        scores = {"capability": 90.0 - number, "team": 80.0, "service": 85.0, "plan": 75.0 + number}
        review = ExpertReview(
            Actor(expert, Role.EXPERT), expert, sum(scores.values()) / 4, "可行", scores
        )
        await case.handle.execute_update(InstituteWorkflow.submit_review, review)


async def test_a_failed_site_inspection_blocks_approval(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """专家通过评审和现场考查: a failed site inspection means the candidate is not ready; the
    refusal says so and changes nothing; a new inspection that passes lets it be approved."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await reviewed_by(case, PANEL)
        await case.handle.execute_update(
            InstituteWorkflow.record_inspection, SiteInspection(BUREAU, False, "场地未落实")
        )
        before, updates = await case.status(), await accepted_updates(case)
        assert "approve" not in before.allowed_actions
        message = await refused(case.decide(Outcome.APPROVE))
        assert "the site inspection failed (场地未落实)" in message
        assert "not ready" in message
        assert await case.status() == before and await accepted_updates(case) == updates
        assert before.panel is not None and before.panel.inspection == "failed"

        await case.inspect(passed=True)
        assert (await case.decide(Outcome.APPROVE)).stage is Stage.PUBLIC_NOTICE


async def test_approval_needs_a_minimum_panel_and_shows_its_aggregate(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """组织专家通过评审: with two experts of the three required the approval is refused, naming
    the panel; the case shows the panel's aggregate, overall and per criterion."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await reviewed_by(case, PANEL[:2])
        await case.inspect(passed=True)
        message = await refused(case.decide(Outcome.APPROVE))
        assert "a panel of at least 3 experts (2 assigned so far)" in message
        panel = (await case.status()).panel
        assert panel is not None
        assert (panel.assigned, panel.reviewed, panel.min_experts) == (2, 2, 3)
        assert panel.by_criterion == {
            "capability": 89.5,
            "team": 80.0,
            "service": 85.0,
            "plan": 75.5,
        }
        assert panel.score == 82.5

        await reviewed_by_third(case)
        panel = (await case.status()).panel
        assert panel is not None and panel.missing == [] and panel.score == 82.5
        assert (await case.decide(Outcome.APPROVE)).stage is Stage.PUBLIC_NOTICE


async def reviewed_by_third(case: Case) -> None:
    expert, organisation = PANEL[2]
    await case.assign(expert, organisation)
    await case.review(expert, 82.5)


async def test_each_review_scores_every_criterion(time_env: WorkflowEnvironment, tmp_path) -> None:
    """专家通过评审…进行综合评价: a review gives a score for each criterion of the creation guide
    (capability, team, service, plan); one overall score, a missing or unknown criterion, or an
    overall score that is not their mean is refused."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        await case.assign()
        expert = Actor("张教授", Role.EXPERT)
        full = {"capability": 90.0, "team": 80.0, "service": 70.0, "plan": 60.0}
        attempts = {
            "overall only": ExpertReview(expert, "张教授", 80, "可"),
            "missing": ExpertReview(expert, "张教授", 80, "可", {"capability": 80}),
            "unknown": ExpertReview(expert, "张教授", 80, "可", {**full, "luck": 80}),
            "not the mean": ExpertReview(expert, "张教授", 99, "可", full),
            "out of range": ExpertReview(expert, "张教授", 80, "可", {**full, "plan": 101}),
        }
        messages = {
            name: await refused(case.handle.execute_update(InstituteWorkflow.submit_review, r))
            for name, r in attempts.items()
        }
        assert "score each criterion (capability, team, service, plan)" in messages["overall only"]
        assert "missing team, service, plan" in messages["missing"]
        assert "unknown criteria luck" in messages["unknown"]
        assert "not the mean of the criteria scores (75)" in messages["not the mean"]
        assert "the score for plan is a number from 0 to 100" in messages["out of range"]
        status = await case.handle.execute_update(
            InstituteWorkflow.submit_review, ExpertReview(expert, "张教授", 75, "可", full)
        )
        assert status.reviews[0].scores == full and status.reviews[0].score == 75


async def test_the_panel_rules_are_the_settings_the_case_started_with(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """组织专家通过评审: IDRI_MIN_EXPERTS and IDRI_REVIEW_CRITERIA are the bureau's to set; a case
    carries the values in force when it started (one expert, one overall score here)."""
    async with harness(time_env, tmp_path, min_experts=1, review_criteria=[]) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        await case.assign()
        with_criteria = ExpertReview(
            Actor("张教授", Role.EXPERT), "张教授", 88, "可", {"capability": 88}
        )
        message = await refused(
            case.handle.execute_update(InstituteWorkflow.submit_review, with_criteria)
        )
        assert "one overall score" in message
        await case.review("张教授", 88)
        await case.inspect()
        panel = (await case.status()).panel
        assert panel is not None and (panel.min_experts, panel.criteria) == (1, [])
        assert (await case.decide(Outcome.APPROVE)).stage is Stage.PUBLIC_NOTICE
