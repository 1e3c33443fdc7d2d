"""Schema migrations: applied on start, an older database is upgraded with its data, never dropped."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from registry_builders import Script, record_as_its_case
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from activities import registry_read
from activities.db import create_registry_engine, current_revision, migrate
from activities.tables import SQLModel
from idri.auth import AccountRole, AccountStore
from idri.auth import tables as account_tables
from idri.settings import Settings
from idri.worker import publication_activities, registry_activities
from models.records import PublicationRequest

FIRST, HEAD = "0001", "0008"
ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)


def tables(url: str) -> set[str]:
    engine = create_registry_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def insert_designated(conn: Connection, case_id: str, organisation: str, *, seq: int) -> None:
    """A designated institute's row as a worker of the first release wrote it (plain SQL: no
    model of today involved)."""
    conn.execute(
        text(
            "INSERT INTO institutes (case_id, organisation, district, direction, level, stage,"
            " designated_at, workflow_id, last_event_seq, updated_at) VALUES (:case_id,"
            " :organisation, 'heping', 'aerospace', 'municipal', 'designated', :at, :workflow_id,"
            " :seq, :at)"
        ),
        {
            "case_id": case_id,
            "organisation": organisation,
            "workflow_id": f"institute-{case_id}",
            "seq": seq,
            "at": WHEN,
        },
    )


def test_a_new_database_gets_the_whole_schema(database_url: str) -> None:
    assert current_revision(database_url) is None
    migrate(database_url)
    assert current_revision(database_url) == HEAD
    assert {
        "institutes",
        "events",
        "evaluations",
        "objections",
        "notifications",
        "publications",
        "accounts",
        "account_tokens",
        "account_events",
    } <= tables(database_url)


async def test_a_database_at_the_first_schema_is_upgraded_and_keeps_its_data(
    database_url: str, settings: Settings
) -> None:
    migrate(database_url, FIRST)
    assert current_revision(database_url) == FIRST
    assert "publications" not in tables(database_url)
    engine = create_registry_engine(database_url)
    # Rows as a worker of the first release wrote them (plain SQL: no model of today involved).
    with engine.begin() as conn:
        insert_designated(conn, "old1", "天津老牌设计院", seq=9)
        conn.execute(
            text(
                "INSERT INTO events (key, case_id, workflow_id, run_id, seq, at, event, from_stage,"
                " to_stage, actor, role, reason, details, recorded_at) VALUES ('institute-old1#9',"
                " 'old1', 'institute-old1', 'run-0', 9, :at, 'close_notice', 'public_notice',"
                " 'designated', 'idri', 'system', 'no objection', '{}', :at)"
            ),
            {"at": WHEN},
        )

    migrate(database_url)

    assert current_revision(database_url) == HEAD
    [old] = registry_read.current_registry(engine)
    assert (old.case_id, old.organisation, old.designation_year) == ("old1", "天津老牌设计院", 2024)
    assert [e.key for e in registry_read.audit_trail(engine, "old1")] == ["institute-old1#9"]
    # The upgraded database takes new events and publishes (the new table is in use).
    script = Script("new1")
    for item in [*script.to_public_notice(), script.designate()]:
        await record_as_its_case(registry_activities(engine, settings).record_event, item)
    publication_activities(engine, settings).publish_sync(
        PublicationRequest(script.records[-1].key, "registry", "new1")
    )
    registry_page = (settings.data_dir / "public" / "registry.html").read_text(encoding="utf-8")
    assert "天津老牌设计院" in registry_page and script.organisation in registry_page
    engine.dispose()


def test_migrating_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    migrate(database_url)
    before = tables(database_url)
    migrate(database_url)
    assert current_revision(database_url) == HEAD and tables(database_url) == before


def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    # The accounts' tables are declared outside activities/ (idri/auth/tables.py).
    assert account_tables.AccountRow.__tablename__ in SQLModel.metadata.tables
    migrate(database_url)
    engine = create_registry_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_workers_starting_together_migrate_once(database_url: str) -> None:
    # Separate processes, as separate workers are; each prints the revision it ends at.
    code = (
        "import sys; from activities.db import migrate, current_revision;"
        "migrate(sys.argv[1]); print(current_revision(sys.argv[1]))"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    results = [w.communicate(timeout=120) for w in workers]
    assert [(w.returncode, out.strip()) for w, (out, _) in zip(workers, results, strict=True)] == [
        (0, HEAD)
    ] * 4, [err for _, err in results]


def test_threads_of_one_process_may_migrate_together(database_url: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: migrate(database_url), range(4)))
    assert current_revision(database_url) == HEAD


def test_the_migrations_ship_inside_the_package() -> None:
    from importlib import resources

    versions = resources.files("activities").joinpath("migrations", "versions")
    names = {p.name for p in versions.iterdir()}
    assert {
        "0001_initial.py",
        "0002_publications.py",
        "0003_pages_due.py",
        "0004_retry_at.py",
        "0005_ended.py",
        "0006_accounts.py",
        "0007_calendar.py",
        "__init__.py",
    } <= names
    assert resources.files("activities").joinpath("migrations", "env.py").is_file()


def test_a_database_before_accounts_gets_them_and_keeps_its_cases(database_url: str) -> None:
    migrate(database_url, "0005")
    assert "accounts" not in tables(database_url)
    engine = create_registry_engine(database_url)
    with engine.begin() as conn:
        insert_designated(conn, "c1", "天津设计院", seq=3)

    migrate(database_url)

    assert current_revision(database_url) == HEAD
    assert [i.case_id for i in registry_read.current_registry(engine)] == ["c1"]
    store = AccountStore(engine)
    token = store.ensure_first_admin()
    assert token is not None and store.authenticate(token) == store.get("admin")
    assert store.get("admin").role is AccountRole.ADMIN
    engine.dispose()


def test_accounts_can_be_migrated_away_and_back(database_url: str) -> None:
    migrate(database_url)
    migrate_down(database_url, "0005")
    assert current_revision(database_url) == "0005"
    assert not {"accounts", "account_tokens", "account_events"} & tables(database_url)
    migrate(database_url)
    assert current_revision(database_url) == HEAD


def migrate_down(url: str, revision: str) -> None:
    from alembic import command

    from activities.db import alembic_config

    engine = create_registry_engine(url)
    try:
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
    finally:
        engine.dispose()
