"""``idri calendar import`` and ``show``: a year's official arrangement stored in the registry,
checked, recorded with who imported it, and what is in force for a year."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.db import migrate
from idri.cli import build_app
from idri.settings import get_settings
from tests.test_calendar import ARRANGEMENT_2027

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A service's data directory with its registry migrated, named by IDRI_DATA_DIR."""
    monkeypatch.setenv("IDRI_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("IDRI_DATABASE_URL", raising=False)
    migrate(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _file(tmp_path: Path, data: object) -> str:
    path = tmp_path / "arrangement.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_an_import_is_in_force_and_show_says_who_imported_it(data_dir: Path) -> None:
    done = runner.invoke(
        build_app(), ["calendar", "import", _file(data_dir, ARRANGEMENT_2027), "--as", "李处长"]
    )
    assert done.exit_code == 0, done.stderr
    assert f"registry: {data_dir / 'registry.sqlite3'}" in done.stderr
    shown = runner.invoke(build_app(), ["calendar", "show", "2027", "--json"])
    data = json.loads(shown.stdout)
    assert data["official"] is True and data["warning"] is None
    assert data["adjusted_working_days"] == ["2027-02-13", "2027-02-14"]
    assert [i["imported_by"] for i in data["imports"]] == ["李处长"]
    assert data["source"] == "imported: a 2027 arrangement for the tests"
    end = runner.invoke(build_app(), ["calendar", "notice-end", "2027-02-03"])
    assert end.stdout.strip() == "2027-02-14"


def test_a_year_not_imported_shows_its_computed_holidays_and_says_so(data_dir: Path) -> None:
    shown = runner.invoke(build_app(), ["calendar", "show", "2027", "--json"])
    data = json.loads(shown.stdout)
    assert data["official"] is False and "调休" in data["warning"]
    assert "2027-02-09" in data["days_off"] and data["adjusted_working_days"] == []


def test_a_date_both_off_and_worked_is_refused_and_nothing_is_stored(data_dir: Path) -> None:
    bad = {**ARRANGEMENT_2027, "workdays": ["2027-02-05"]}
    refused = runner.invoke(build_app(), ["calendar", "import", _file(data_dir, bad)])
    assert refused.exit_code == 1
    assert "nothing imported" in refused.stderr and "2027-02-05" in refused.stderr
    shown = runner.invoke(build_app(), ["calendar", "show", "2027", "--json"])
    assert json.loads(shown.stdout)["imports"] == []


def test_import_without_the_services_registry_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDRI_DATA_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    try:
        result = runner.invoke(
            build_app(), ["calendar", "import", _file(tmp_path, ARRANGEMENT_2027)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "no registry database at" in result.stderr and "IDRI_DATA_DIR" in result.stderr
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_not_read_as_an_arrangement(data_dir: Path) -> None:
    result = runner.invoke(build_app(), ["calendar", "import", "/dev/zero"])
    assert result.exit_code == 1
    assert "not a regular file" in result.stderr
