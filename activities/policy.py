"""The periods a case runs by, read from settings inside an activity.

Settings change (an operator edits an environment variable, a new release changes a default);
a case must replay with the values it used. Reading them here records them in history.
"""

from __future__ import annotations

from temporalio import activity

from idri.settings import Settings
from models.case import Policy
from models.records import ActivityName


class PolicyActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name=ActivityName.LOAD_POLICY)
    async def load_policy(self) -> Policy:
        s = self._settings
        override = s.notice_override
        return Policy(
            round_deadline_month=s.round_deadline_month,
            round_deadline_day=s.round_deadline_day,
            reminder_lead_days=sorted(set(s.reminder_lead_days), reverse=True),
            max_missed_rounds=s.max_missed_rounds,
            notice_working_days=s.notice_working_days,
            notice_override_seconds=override.total_seconds() if override else None,
            review_period_days=s.review_period_days,
            investigation_period_days=s.investigation_period_days,
            evaluation_interval_years=s.evaluation_interval_years,
            evaluation_open_window_days=s.evaluation_open_window_days,
            evaluation_period_days=s.evaluation_period_days,
            rectification_period_days=s.rectification_period_days,
            national_min_stable_years=s.national_min_stable_years,
        )
