"""`idri simulate`: a multi-year programme in simulated time, with seeded decisions, ending in the
bureau's report."""

from __future__ import annotations

from typer.testing import CliRunner

from idri.cli import build_app
from idri.simulate import simulate
from models.time import round_year_for


async def test_a_three_year_programme_designates_institutes_and_reports_them() -> None:
    result = await simulate(years=3, cases=3, seed=7)
    report = result.report
    assert result.cases == 9 and result.actions["created"] == 9
    assert result.actions["recommend"] > 0 and result.actions["approve"] > 0
    assert report.registry_total > 0
    assert sum(report.stages.values()) == 9, "every case counted in one stage"
    first_round = round_year_for(result.start)
    # The plan's first round was 2021, its goals "by 2022" and "by 2025": moved to this run.
    assert [p.goal.year for p in report.goals] == [first_round + 1, first_round + 4]
    assert report.notes and "goals shifted" in report.notes[0]


def test_the_command_prints_the_report(tmp_path) -> None:
    out = CliRunner().invoke(
        build_app(),
        [
            "simulate",
            "--years",
            "1",
            "--cases",
            "2",
            "--seed",
            "3",
            "--quiet",
            "--out",
            str(tmp_path),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "Simulated 1 round(s), 2 case(s), seed 3" in out.output
    assert "Goals of the work plan" in out.output
    assert (tmp_path / "report.html").exists() and (tmp_path / "designations.svg").exists()


def test_the_command_prints_no_raw_terminal_codes_into_a_pipe(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "idri.cli", "simulate", "--years", "1", "--cases", "1", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\x1b" not in done.stdout
    assert "WARN" not in done.stderr
