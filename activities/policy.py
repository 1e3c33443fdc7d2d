"""The periods a case runs by, handed to it by an activity.

Settings change (an operator edits an environment variable, a new release changes a default);
a case must replay with the values it used. Handing them over in an activity records them in
history.
"""

from __future__ import annotations

from temporalio import activity

from models.case import Policy
from models.records import ActivityName


class PolicyActivities:
    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    @activity.defn(name=ActivityName.LOAD_POLICY)
    async def load_policy(self) -> Policy:
        return self._policy
