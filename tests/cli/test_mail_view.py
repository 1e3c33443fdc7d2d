"""``idri mail``: a case's mail as the registry's outbox holds it, who was told what, whether it
went out and why not. The rows are written the production way into the session stack's SQLite
registry, and read back through the API as the bureau."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from activities.db import create_registry_engine
from activities.tables import NotificationRow, table_of
from idri.settings import Settings
from idri.worker import notification_activities, registry_activities
from tests.cli.stack import ROOT, Stack
from tests.registry.registry_builders import APPLICANT_EMAIL, Script

pytestmark = pytest.mark.devserver

outbox = table_of(NotificationRow)

REFUSED_NOW = "421 4.7.0 Try again later"
REFUSED_FOR_GOOD = "550 5.1.1 <binhai@tj.gov.cn>: mailbox unavailable"
RETRY_AT = datetime(2025, 3, 6, 2, 30, tzinfo=UTC)  # 10:30 Beijing time


@dataclass
class Registry:
    engine: Engine
    settings: Settings

    def record(self, script: Script, *events: str) -> None:
        writer = registry_activities(self.engine, self.settings)
        for name in events:
            assert writer.record_sync(script.event(name))


@dataclass
class Output:
    exit_code: int
    stdout: str
    stderr: str

    def rows(self) -> list[list[str]]:
        """The cells of the table's body rows."""
        return [
            [cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in self.stdout.splitlines()
            if line.startswith("│")
        ]


SESSION: list[Stack] = []


def idri(*args: str) -> Output:
    """``idri ARGS`` in-process as the bureau, as the console script runs it."""
    result = SESSION[0].cli(*args, env={"COLUMNS": "500"})  # a table row on one line
    return Output(result.exit_code, result.stdout, result.stderr)


def mail(*args: str) -> Output:
    return idri("mail", *args)


@pytest.fixture
def registry(stack: Stack) -> Iterator[Registry]:
    """The stack's SQLite registry, which the API reads; rows are written here as the worker
    writes them, with Binhai's mailbox configured and Jizhou's not."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init-only option
        data_dir=stack.data_dir,
        smtp_host=None,
        bureau_email="bureau@gxj.tj.gov.cn",
        district_emails={"binhai": "binhai@tj.gov.cn"},
    )
    engine = create_registry_engine(settings.registry_url)
    SESSION[:] = [stack]
    yield Registry(engine, settings)
    engine.dispose()


def new_case(district: str = "binhai") -> Script:
    return Script(f"{district}-{uuid.uuid4().hex[:8]}", district=district)


@pytest.fixture
def case(registry: Registry) -> Script:
    """A Binhai case with five mails: the district's first sent, its second refused for good,
    the recommendation's three pending, the applicant's refused for now until ``RETRY_AT``."""
    script = new_case()
    registry.record(script, "created", "submit_plan", "recommend")
    created, plan, recommend = (r.key for r in script.records)
    files = notification_activities(registry.engine, registry.settings)
    assert files.deliver_to_files(created, f"test-{uuid.uuid4()}") == 1
    with registry.engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.event_key == plan)
            .values(status="failed", attempts=1, last_error=REFUSED_FOR_GOOD)
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.event_key == recommend, outbox.c.role == "applicant")
            .values(attempts=1, last_error=REFUSED_NOW, retry_at=RETRY_AT)
        )
    return script


def test_the_outbox_of_a_case_lists_its_mail_oldest_first_with_its_status(case: Script) -> None:
    result = mail(case.case_id)

    assert result.exit_code == 0, result.stderr
    rows = result.rows()
    assert [r[1:4] for r in rows] == [
        [case.case_id, "district", "binhai@tj.gov.cn"],
        [case.case_id, "district", "binhai@tj.gov.cn"],
        [case.case_id, "applicant", f"赵经理 <{APPLICANT_EMAIL}>"],
        [case.case_id, "bureau", "bureau@gxj.tj.gov.cn"],
        [case.case_id, "district", "binhai@tj.gov.cn"],
    ]  # one event's mails in the order of their keys
    assert [(r[5], r[6]) for r in rows] == [
        ("sent", "1"),
        ("failed", "1"),
        ("pending", "1"),
        ("pending", "0"),
        ("pending", "0"),
    ]
    assert all(re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d", r[0]) for r in rows)
    assert all("[Tianjin IDRI]" in r[4] for r in rows)
    assert rows[1][7:] == [REFUSED_FOR_GOOD, ""]
    assert rows[2][7:] == [REFUSED_NOW, "2025-03-06 10:30"]  # Beijing time
    assert rows[0][7:] == rows[3][7:] == ["", ""]
    assert result.stdout.splitlines()[-1] == "5 mail(s): 3 pending, 1 sent, 1 failed"


def test_limit_lists_the_newest_mails_oldest_first_and_says_what_it_left_out(
    case: Script,
) -> None:
    everything = mail(case.case_id).rows()

    result = mail(case.case_id, "--limit", "2")

    assert result.exit_code == 0, result.stderr
    assert result.rows() == everything[-2:]
    assert result.stdout.splitlines()[-1] == (
        "the newest 2 of 5 mails: 2 pending; --limit 5 shows them all"
    )
    whole = mail(case.case_id, "--limit", "5")
    assert whole.rows() == everything
    assert whole.stdout.splitlines()[-1] == "5 mail(s): 3 pending, 1 sent, 1 failed"


def test_limit_cuts_the_json_too_and_warns_on_stderr(registry: Registry, case: Script) -> None:
    everything = json.loads(mail(case.case_id, "--json").stdout)
    assert len(everything) == 5

    result = mail(case.case_id, "--json", "--limit", "4")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == everything[-4:]
    assert result.stderr == "warning: the newest 4 of 5 mails; --limit 5 gives them all\n"
    pending = mail(case.case_id, "--json", "--status", "pending", "--limit", "2")
    assert [m["role"] for m in json.loads(pending.stdout)] == ["bureau", "district"]
    assert "the newest 2 of 3 mails" in pending.stderr


def test_a_limit_below_one_is_refused(registry: Registry) -> None:  # before any request
    result = mail("--limit", "0")

    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.stderr
    assert "greater than or equal to 1" in result.stderr


def test_mail_nobody_can_receive_is_listed_with_the_reason(registry: Registry) -> None:
    jizhou = new_case("jizhou")
    registry.record(jizhou, "created")

    rows = mail(jizhou.case_id).rows()

    assert [r[2:4] + r[5:8] for r in rows] == [
        ["district", "—", "undeliverable", "0", "no mailbox for district 'jizhou' (IDRI_DISTRICT_EMAILS)"]
    ]  # fmt: skip


def test_status_keeps_only_the_mail_in_that_status(registry: Registry, case: Script) -> None:
    other = new_case()
    registry.record(other, "created")

    pending = mail(case.case_id, "--status", "pending").rows()
    assert [(r[1], r[2], r[5]) for r in pending] == [
        (case.case_id, "applicant", "pending"),
        (case.case_id, "bureau", "pending"),
        (case.case_id, "district", "pending"),
    ]
    everywhere = [r[1] for r in mail("--status", "PENDING").rows()]
    assert [c for c in everywhere if c in (case.case_id, other.case_id)] == [case.case_id] * 3 + [
        other.case_id
    ]
    assert case.case_id in [r[1] for r in mail("--status", "sent").rows()]


def test_json_gives_every_field_of_the_outbox_rows(registry: Registry, case: Script) -> None:
    result = mail(f"institute-{case.case_id}", "--json")

    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    fields = [
        "key", "event_key", "created_at", "case_id", "role", "name", "address", "subject",
        "status", "attempts", "last_error", "retry_at", "sent_at", "transport",
    ]  # fmt: skip
    assert all(list(p) == fields for p in printed)
    times = ("created_at", "retry_at", "sent_at")
    for p in printed:
        for name in times:
            if p[name] is not None:
                assert p[name].endswith("+08:00")
                p[name] = datetime.fromisoformat(p[name])
    with registry.engine.connect() as conn:
        stored = [
            dict(row)
            for row in conn.execute(
                select(*(outbox.c[name] for name in fields))
                .where(outbox.c.case_id == case.case_id)
                .order_by(outbox.c.created_at, outbox.c.key)
            ).mappings()
        ]
    for row in stored:  # times are printed to the second, as in every view
        row.update({n: row[n].replace(microsecond=0) for n in times if row[n] is not None})
    assert printed == stored
    sent = printed[0]
    assert sent["status"] == "sent" and Path(sent["transport"]).is_file()
    assert printed[2]["retry_at"] == RETRY_AT


def test_a_case_without_mail_says_so_in_one_line(registry: Registry, case: Script) -> None:
    quiet = new_case()
    registry.record(quiet, "record_inspection")  # no one is told of an inspection

    result = mail(quiet.case_id)

    assert (result.exit_code, result.stdout) == (
        0,
        f"no mail for case {quiet.case_id} in the outbox\n",
    )
    assert mail(case.case_id, "--status", "undeliverable").stdout == (
        f"no undeliverable mail for case {case.case_id} in the outbox\n"
    )
    assert json.loads(mail(quiet.case_id, "--json").stdout) == []


def test_a_case_the_registry_does_not_know_is_refused(registry: Registry) -> None:
    result = mail("binhai-00000000")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: the registry has no case 'binhai-00000000'\n"


def test_an_unknown_status_is_refused_naming_the_valid_ones(registry: Registry) -> None:
    result = mail("--status", "snet")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: unknown mail status 'snet'; did you mean sent? "
        "(statuses: pending, sending, sent, undeliverable, failed)\n"
    )


def test_an_unknown_status_is_refused_before_any_request() -> None:
    probe = (
        "import sys\nfrom idri.cli import build_app\n"
        "try:\n    build_app()(['mail', '--status', 'bogus'], prog_name='idri')\n"
        "except SystemExit as done:\n    print(done.code)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'activities'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDRI_")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=env | {"PYTHONPATH": str(ROOT), "IDRI_API_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == ["1", "[]"], result.stderr


def test_the_registry_view_reads_the_same_database(registry: Registry) -> None:
    script = new_case()
    writer = registry_activities(registry.engine, registry.settings)
    for record in [*script.to_public_notice(), script.designate()]:
        assert writer.record_sync(record)

    listed = json.loads(idri("registry", "--json").stdout)

    assert [i["case_id"] for i in listed].count(script.case_id) == 1
