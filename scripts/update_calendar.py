"""Regenerate ``models/data/cn_calendar.json`` from the ``chinese-calendar`` package.

Each year, usually in November, the State Council publishes the next year's holiday arrangement
(国务院办公厅关于某年部分节假日安排的通知). Then either upgrade the dev dependency and rerun::

    .venv/bin/pip install -U chinese-calendar
    .venv/bin/python scripts/update_calendar.py

or add the year to the JSON by hand: ``"holidays"`` lists the days off, ``"workdays"`` the weekend
days that become working days (调休). Years the package does not cover are kept from the existing
file, so a hand-added year survives a rerun. ``chinese-calendar`` is only needed here, never at run
time: the service reads the JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import chinese_calendar

TARGET = Path(__file__).resolve().parents[1] / "models" / "data" / "cn_calendar.json"


def generate(existing: dict[str, Any]) -> dict[str, Any]:
    """The calendar data: the package's years, plus the years only ``existing`` has."""
    by_year: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"holidays": [], "workdays": []})
    published = {"holidays": chinese_calendar.holidays, "workdays": chinese_calendar.workdays}
    for kind, days in published.items():
        for day in sorted(days):
            by_year[str(day.year)][kind].append(day.isoformat())
    for year, arrangement in existing.get("years", {}).items():
        by_year.setdefault(year, arrangement)
    return {
        "_source": (
            f"chinese-calendar {chinese_calendar.__version__} (State Council holiday arrangements)"
            " via scripts/update_calendar.py; years it does not cover are kept as edited by hand"
        ),
        "years": dict(sorted(by_year.items())),
    }


def dump(data: dict[str, Any]) -> str:
    """JSON with one year per line, so a diff shows which years changed."""
    years = [
        f"    {json.dumps(year)}: {json.dumps(arrangement, ensure_ascii=False)}"
        for year, arrangement in data["years"].items()
    ]
    return (
        "{\n"
        f'  "_source": {json.dumps(data["_source"], ensure_ascii=False)},\n'
        '  "years": {\n' + ",\n".join(years) + "\n  }\n}\n"
    )


def main() -> None:
    existing = json.loads(TARGET.read_text(encoding="utf-8")) if TARGET.exists() else {}
    data = generate(existing)
    TARGET.write_text(dump(data), encoding="utf-8")
    print(f"wrote {TARGET}: years {', '.join(data['years'])}")


if __name__ == "__main__":
    main()
