"""The registry's hot writes run on the driver's cursor (``activities.db.write_statements``): they
leave exactly the rows, and return exactly the values, that SQLAlchemy's Core execution of the
same statements does, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from registry_builders import Script
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError, StatementError

from activities import notify, registry
from activities.db import CORE_SQL, create_registry_engine, migrate, write_statements
from activities.notify import NotificationActivities, _Outcome
from activities.registry import RegistryActivities
from activities.tables import EventRow, table_of
from idri.settings import Settings
from models.case import Stage
from models.records import EventRecord

NOW = datetime(2025, 7, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def raw_and_core(request: pytest.FixtureRequest, new_database_url: Any) -> Iterator[list[Engine]]:
    """Two empty registries of one kind: one written the raw way, one through SQLAlchemy Core."""
    engines = []
    for _ in range(2):
        url = new_database_url(request.param)
        migrate(url)
        engines.append(create_registry_engine(url))
    yield [engines[0], engines[1].execution_options(**{CORE_SQL: True})]
    for engine in engines:
        engine.dispose()


def a_full_life() -> list[EventRecord]:
    """Every kind of write: objections lodged and resolved, evaluations, a delisting, recipients
    without a mailbox, a late duplicate."""
    case = Script("raw1", district="jizhou")  # no district mailbox: undeliverable rows
    records = case.to_public_notice()
    for number, objector in ((1, "市民甲"), (2, "市民乙")):
        records.append(
            case.event(
                "lodge_objection",
                reason="场地不符",
                details={"objection_id": str(number), "objector": objector},
            )
        )
    records.append(case.event("close_notice", Stage.INVESTIGATING, after=timedelta(days=6)))
    records.append(case.event("uphold_objection", reason="属实", details={"objection_id": "2"}))
    case.designated_at = case.at + timedelta(days=5)
    case.next_evaluation_due = case.designated_at + timedelta(days=3 * 365)
    records.append(case.event("dismiss_objection", Stage.DESIGNATED, after=timedelta(days=5)))
    records.append(case.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=9)))
    records.append(
        case.event("order_rectification", Stage.RECTIFYING, details={"deadline": "2028-12-31"})
    )
    records.append(case.event("delist", Stage.DELISTED, reason="整改不合格"))
    other = Script("raw2", applicant_email=None)
    return [*records, *other.to_public_notice(), other.designate()]


def write_everything(engine: Engine, settings: Settings) -> dict[str, Any]:
    """Record a life, claim and settle a batch by hand, deliver the rest; what each call gave."""
    seen: dict[str, Any] = {}
    recorder = RegistryActivities(engine, settings)
    records = a_full_life()
    seen["recorded"] = [recorder.record_sync(record) for record in records]
    seen["again"] = [recorder.record_sync(record) for record in records[:3]]  # no-ops
    deliverer = NotificationActivities(engine, settings, batch_size=4)
    batch = deliverer.claim(None, "attempt#1")
    seen["claimed"] = batch
    keys = [mail.key for mail in batch]
    outcome = _Outcome(
        sent=[(keys[0], "smtp")], failed=[(keys[1], "550 no mailbox")], temporary=[(keys[2], "421")]
    )
    deliverer._record(outcome, "attempt#1")  # the fourth stays claimed: attempt 2 takes it over
    approve = next(r for r in records if r.event == "approve")
    seen["one event"] = deliverer.deliver_to_files(approve.key, "attempt#2")
    seen["delivered"] = deliverer.deliver_to_files(None, "attempt#2", earlier_attempts="attempt#")
    return seen


def stored(engine: Engine, data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as the driver returns them (SQLite's text for times, as stored)."""
    tables = {}
    with engine.connect() as conn:
        for name in sorted(inspect(conn).get_table_names()):
            if name == "alembic_version":
                continue
            rows = conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY 1").all()
            tables[name] = [
                tuple(str(v).replace(str(data_dir), "DATA") for v in row) for row in rows
            ]
    return tables


def test_the_raw_writes_leave_the_rows_sqlalchemy_core_leaves(
    raw_and_core: list[Engine], settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One clock for both runs: the rows then differ only if the two paths do.
    monkeypatch.setattr(registry, "utcnow", lambda: NOW)
    monkeypatch.setattr(notify, "utcnow", lambda: NOW)
    outcomes, tables = [], []
    for n, engine in enumerate(raw_and_core):
        data_dir = tmp_path / f"data{n}"
        run_settings = settings.model_copy(update={"data_dir": data_dir})
        outcomes.append(write_everything(engine, run_settings))
        tables.append(stored(engine, data_dir))

    raw, core = outcomes
    assert raw == core
    assert raw["recorded"] == [True] * len(raw["recorded"]) and raw["again"] == [False] * 3
    assert [m.created_at for m in raw["claimed"]] == [NOW] * 4  # aware UTC, as Core gives it
    assert tables[0] == tables[1]
    assert {name for name, rows in tables[0].items() if rows} >= {
        "events",
        "institutes",
        "evaluations",
        "objections",
        "notifications",
        "pages_due",
    }


def test_a_value_the_column_refuses_fails_as_it_does_through_core(engine: Engine) -> None:
    events = table_of(EventRow)
    row = {c.name: "x" for c in events.c} | {"seq": 1, "details": {}, "recorded_at": NOW}
    row["at"] = datetime(2025, 1, 1)  # naive: UTCDateTime refuses it

    with pytest.raises(StatementError, match="naive datetime"), write_statements(engine) as conn:
        conn.execute(events.insert(), row)


def test_a_driver_error_is_sqlalchemys_and_rolls_the_transaction_back(engine: Engine) -> None:
    events = table_of(EventRow)
    row = {c.name: "x" for c in events.c} | {"seq": 1, "details": {}, "at": NOW}
    row["recorded_at"] = NOW

    with pytest.raises(Exception) as raised, write_statements(engine) as conn:
        conn.execute(events.insert(), row)
        conn.execute(events.insert(), row)  # the same key again
    assert type(raised.value).__module__ == "sqlalchemy.exc"
    assert not isinstance(raised.value, OperationalError)  # an integrity error, not a lost server
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one() == 0
