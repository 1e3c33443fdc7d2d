"""Every tunable of idri, read once from the environment (prefix ``IDRI_``) at an entry point.

The workflow never reads these directly: periods that decide deadlines reach a case through the
``load_policy`` activity, so the values a case used are recorded in its history.
"""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.case import Policy
from models.schedules import ScheduleRules

_POLICY = Policy()
"""The periods' defaults are the policy's own: stated once, in ``models/case.py``."""
_RULES = ScheduleRules()

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``20s``, ``5m``, ``2h``, ``1d`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 20s, 5m, 2h, 1d)")
    number, unit = match.groups()
    try:
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    except OverflowError:
        raise ValueError(f"not a duration: {text!r} is longer than any calendar") from None


class Settings(BaseSettings):
    """idri's settings; each field is read from ``IDRI_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="IDRI_", env_file=".env", extra="ignore")

    # --- Where things live -----------------------------------------------------------------
    data_dir: Path = Path(".idri")
    """Data directory: the embedded server's database, the SQLite registry, the outbox, pages."""
    database_url: str | None = None
    """Registry database URL; defaults to a SQLite file in the data directory."""
    task_queue: str = "idri"
    """Task queue of the institute workflows and their activities."""

    # --- Temporal connection (TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE are honoured first) -------
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"

    # --- The round --------------------------------------------------------------------------
    round_deadline_month: int = Field(_POLICY.round_deadline_month, ge=1, le=12)
    round_deadline_day: int = Field(_POLICY.round_deadline_day, ge=1, le=31)
    reminder_lead_days: list[int] = _POLICY.reminder_lead_days
    """Days before the round deadline on which not-yet-recommended cases are reminded."""
    max_missed_rounds: int = Field(_POLICY.max_missed_rounds, ge=1)
    """A case never recommended lapses after this many round deadlines pass."""

    # --- Periods ----------------------------------------------------------------------------
    notice_working_days: int = Field(_POLICY.notice_working_days, ge=1, le=60)
    """The public notice (公示) period in Chinese working days."""
    notice_period_override: str | None = None
    """A duration such as ``20s`` that replaces the working-day notice period (demos, e2e)."""
    review_period_days: int = Field(_POLICY.review_period_days, ge=1)
    """Expert review is overdue this many days after it starts."""
    investigation_period_days: int = Field(_POLICY.investigation_period_days, ge=1)
    """An objection investigation is overdue after this many days."""
    evaluation_interval_years: int = Field(_POLICY.evaluation_interval_years, ge=1)
    """Tracking evaluation every N years, from designation or the last evaluation."""
    evaluation_open_window_days: int = Field(_POLICY.evaluation_open_window_days, ge=0)
    """An evaluation may be opened this many days before it is due."""
    evaluation_period_days: int = Field(_POLICY.evaluation_period_days, ge=1)
    """An opened evaluation is overdue after this many days without a result."""
    rectification_period_days: int = Field(_POLICY.rectification_period_days, ge=1)
    """Default rectification deadline when the evaluation does not set one."""
    national_min_stable_years: int = Field(_POLICY.national_min_stable_years, ge=0)
    """Stable operation needed (from designation, or the last completed rectification) before a
    national recommendation (稳定运行2年以上)."""

    # --- The expert panel (models/review.py); a case keeps the values it started with ------------
    min_experts: int = Field(_POLICY.min_experts, ge=1, le=20)
    """Approval needs a panel of at least this many experts, each having reviewed."""
    review_criteria: list[str] = Field(_POLICY.review_criteria, max_length=12)
    """The criteria each expert scores from 0 to 100 (a JSON list in ``IDRI_REVIEW_CRITERIA``,
    e.g. ``["capability","team","service","plan"]``); empty: one overall score per review."""

    # --- Reminders before due dates (issue 20 item 7) ----------------------------------------
    review_reminder_days: int = Field(_POLICY.review_reminder_days, ge=1)
    """An expert whose review is still missing this many days after assignment is reminded."""
    review_overdue_days: int = Field(_POLICY.review_overdue_days, ge=1)
    """The bureau is told of a review still missing this many days after assignment."""
    rectification_reminder_days: list[int] = _POLICY.rectification_reminder_days
    """Days before a rectification deadline on which the institute is reminded."""
    evaluation_reminder_days: int = Field(_POLICY.evaluation_reminder_days, ge=0)
    """Days before the evaluation window opens on which the institute is reminded."""

    # --- Schedules: the annual round and the evaluation sweep (idri/schedules.py) -------------
    install_schedules: bool = False
    """``python worker.py`` installs (or updates) the schedules on start: on for a cluster, where
    no ``idri up`` runs; installing is idempotent, so several workers may do it at once."""
    case_source: Literal["registry", "visibility"] = "registry"
    """Where the scheduled workflows find cases: the registry database, or Temporal visibility
    (search attributes; needs a server with visibility, not the time-skipping test server)."""
    sweep_hour: int = Field(8, ge=0, le=23)
    """The evaluation sweep runs daily at this hour, Beijing time."""
    sweep_every: str | None = None
    """A duration such as ``10m`` that replaces the daily sweep by an interval (demos)."""
    sweep_page_size: int = Field(_RULES.sweep_page_size, ge=1, le=10_000)
    """Institutes looked at per activity call of the sweep."""
    sweep_pages_per_run: int = Field(_RULES.sweep_pages_per_run, ge=1)
    """Pages per sweep workflow run before it continues as new."""
    sweep_concurrency: int = Field(20, ge=1, le=500)
    """Evaluations opened at the same time within a page."""

    # --- The plan's goals (idri report) ----------------------------------------------------
    goal_2022_municipal_min: int = Field(5, ge=0)
    goal_2022_municipal_max: int = Field(8, ge=0)
    goal_2025_municipal_min: int = Field(12, ge=0)
    """"A further batch" by 2025: our reading, 12 municipal institutes in all."""
    goal_2025_national_min: int = Field(2, ge=0)
    """"Several national ones" by 2025: our reading, at least 2."""

    # --- The administrator's name in what administration commands record (idri ended) ---------
    actor: str = "operator"
    """People act through the API as their accounts; this names an administrator who works on
    Temporal directly (``idri ended reinstate|close --as NAME`` overrides it)."""

    # --- Mail -------------------------------------------------------------------------------
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "idri@gxj.tj.gov.cn"
    bureau_email: str = "bureau@gxj.tj.gov.cn"
    district_emails: dict[str, str] = {}
    """District code → the district officer's mailbox (JSON in ``IDRI_DISTRICT_EMAILS``)."""
    publish_dir: Path | None = None
    """Where the public pages are written; defaults to ``<data_dir>/public``."""

    # --- Encryption of case data in Temporal (see idri/codec.py) -----------------------------
    encryption_keys: dict[str, str] = {}
    """Key id → base64 AES-256 key. Empty: payloads are not encrypted."""
    encryption_key_id: str | None = None
    """Key id used to encrypt new payloads; older keys stay for decryption."""
    encryption_accept_clear: bool = False
    """With keys: still accept payloads in clear. Only while cases started before encryption
    was switched on are open; otherwise a client without keys could write and act in clear."""
    codec_auth_token: str | None = None
    """Bearer token the codec server demands. Unset: it answers callers on this machine only."""
    codec_cors_origin: str = "http://localhost:8233"
    """Web UI origin(s) whose pages may call the codec server (comma-separated)."""
    codec_port: int = Field(default=8081, ge=1, le=65535)
    """Port of the codec server (``python -m idri.codec_server``)."""

    # --- The API, the one front door for people (idri/api/, docs/api.md) ---------------------
    api_host: str = "127.0.0.1"
    """Where the API listens. ``idri up`` serves this machine only by default; the compose
    stack's API service listens on all interfaces behind its reverse proxy."""
    api_port: int = Field(default=7280, ge=1, le=65535)
    token_days: int = Field(default=90, ge=1, le=3650)
    """How long an API token stays valid."""

    # --- Documents (idri/documents/): kept by SHA-256 ------------------------------------------
    document_store: Literal["file", "s3"] = "file"
    """``file``: a directory (``documents_dir``); ``s3``: S3-compatible object storage."""
    documents_dir: Path | None = None
    """Where the file store keeps documents; defaults to ``<data_dir>/documents``."""
    document_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1, le=10 * 1024**3)
    """The largest document accepted (bytes); a larger upload is refused (413) as it arrives."""
    s3_endpoint_url: str = ""
    """The S3-compatible service (``http://minio:9000``); empty: AWS S3 itself."""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    """Empty: boto3's own chain (``AWS_ACCESS_KEY_ID``, a profile, an instance role)."""
    s3_secret_access_key: str = ""

    # --- The workbench (idri/web/): the same process as the API --------------------------------
    web_secure_cookies: bool = False
    """Mark the workbench's cookies ``Secure`` (sent over HTTPS only): set it in production,
    behind TLS. Off by default so that ``idri up`` on http://127.0.0.1 can sign in."""
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    """How long a workbench sign-in lasts: a browser's token expires sooner than an API token."""

    @field_validator("notice_period_override")
    @classmethod
    def _check_override(cls, value: str | None) -> str | None:
        if value:
            parse_duration(value)
        return value or None

    @field_validator("review_criteria")
    @classmethod
    def _check_criteria(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        for name in names:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
                raise ValueError(
                    f"a review criterion is a short code in lower case, such as capability, "
                    f"not {name!r}"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"the review criteria name one criterion twice: {names}")
        return names

    @field_validator("sweep_every")
    @classmethod
    def _check_sweep_every(cls, value: str | None) -> str | None:
        if value:
            parse_duration(value)
        return value or None

    @property
    def notice_override(self) -> timedelta | None:
        return parse_duration(self.notice_period_override) if self.notice_period_override else None

    def policy(self) -> Policy:
        """The periods in force, as the ``load_policy`` activity hands them to a case."""
        override = self.notice_override
        given = {f.name: getattr(self, f.name) for f in fields(Policy) if hasattr(self, f.name)}
        given["reminder_lead_days"] = sorted(set(self.reminder_lead_days), reverse=True)
        return Policy(
            **given, notice_override_seconds=override.total_seconds() if override else None
        )

    def schedule_rules(self) -> ScheduleRules:
        """The rules the schedule workflows run by, as ``load_schedule_rules`` hands them over."""
        given = {f.name: getattr(self, f.name) for f in fields(ScheduleRules)}
        given["reminder_lead_days"] = sorted(set(self.reminder_lead_days), reverse=True)
        return ScheduleRules(**given)

    @property
    def documents_path(self) -> Path:
        return self.documents_dir or self.data_dir / "documents"

    @property
    def registry_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; entry points pass the object down from here."""
    return Settings()
