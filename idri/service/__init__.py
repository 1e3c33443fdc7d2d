"""One function per case action and view, taking the signed-in account (issue 19).

The API (``idri/api/``) and, later, the workbench call these; they hold no rules of their own.
This is the only place that builds a case's :class:`~models.case.Actor`: from the account, never
from what a caller states. Who may act on a case, at which stage, stays the workflow's decision
(``models/permissions.py``, ``models/lifecycle.py``); here only what the workflow cannot know is
checked: which cases an account may see (a district its own, an expert those assigned to it, an
applicant its organisation's).
"""
