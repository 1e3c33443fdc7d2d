"""Reading a district's survey sheet (CSV or XLSX) into candidate rows, every row checked first.

Pure: no Temporal here. A sheet has a header row; columns may be named in English or Chinese
(``organisation``/``单位名称``, ``district``/``所在区``, ``direction``/``主要方向``, ``contact``/``联系人``,
``email``/``邮箱``, ``phone``/``联系电话``, ``qualifications``/``已有资质``, ``willing``/``建设意愿``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from models.candidates import candidate_problems, organisation_key
from models.catalog import DIRECTIONS, DISTRICTS, UnknownEntry

COLUMNS: dict[str, tuple[str, ...]] = {
    "organisation": (
        "organisation",
        "organization",
        "name",
        "单位名称",
        "企业名称",
        "名称",
        "单位",
    ),
    "district": ("district", "区", "所在区", "区域"),
    "direction": ("direction", "方向", "主要方向", "产业方向"),
    "contact": ("contact", "contact_name", "contact name", "联系人"),
    "email": ("email", "e-mail", "contact_email", "邮箱", "电子邮箱"),
    "phone": ("phone", "telephone", "联系电话", "电话"),
    "qualifications": ("qualifications", "qualification", "已有资质", "资质"),
    "willing": ("willing", "willingness", "建设意愿", "意愿", "是否愿意"),
}
REQUIRED = ("organisation", "district", "direction")

_YES = {"", "yes", "y", "true", "1", "是", "愿意", "有"}
_NO = {"no", "n", "false", "0", "否", "不愿意", "无"}
_LIST_SEPARATORS = re.compile(r"[;；、,，|\n]+")


class SheetError(ValueError):
    """The file as a whole cannot be read (format, header)."""


@dataclass
class Candidate:
    """One valid row of the sheet."""

    line: int
    organisation: str
    district: str
    """District code."""
    direction: str
    """Direction code."""
    contact: str = ""
    email: str | None = None
    phone: str | None = None
    qualifications: list[str] = field(default_factory=list)
    willing: bool = True


@dataclass
class Problem:
    line: int
    reason: str


@dataclass
class Sheet:
    """Every row of a sheet, checked: the valid candidates and the problems by line."""

    unit: str
    """``line`` (CSV) or ``row`` (XLSX): how a person finds a row in the file."""
    candidates: list[Candidate]
    problems: list[Problem]
    ignored_columns: list[str]


def read_sheet(path: Path, *, sheet_name: str | None = None) -> Sheet:
    """Read and check every row of ``path`` (``.csv`` or ``.xlsx``).

    Raises:
        SheetError: unknown format, unreadable file, or a header without the needed columns.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        unit, rows = "line", _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        unit, rows = "row", _xlsx_rows(path, sheet_name)
    else:
        raise SheetError(f"{path.name}: a survey sheet is a .csv or .xlsx file, not {suffix!r}")
    return check_rows(rows, unit=unit)


def check_rows(rows: Iterable[tuple[int, list[str]]], *, unit: str = "line") -> Sheet:
    """Check rows ``(line number, cells)``; the first non-empty row is the header."""
    iterator = iter(rows)
    header_line, header = next(((n, cells) for n, cells in iterator if any(cells)), (0, []))
    if not header:
        raise SheetError("the sheet is empty: it needs a header row and one row per candidate")
    positions, ignored = _columns(header)
    missing = [c for c in REQUIRED if c not in positions]
    if missing:
        raise SheetError(
            f"{unit} {header_line}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(h for h in header if h) or 'none'})"
        )
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, cells in iterator:
        if not any(c.strip() for c in cells):
            continue
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for name, i in positions.items()
        }
        candidate, reasons = _check(line, values)
        if candidate is not None:
            key = organisation_key(candidate.organisation)
            if key in seen:
                reasons.append(f"the same organisation as {unit} {seen[key]}")
            else:
                seen[key] = line
        if reasons:
            problems.append(Problem(line, "; ".join(reasons)))
        elif candidate is not None:
            candidates.append(candidate)
    return Sheet(unit, candidates, problems, ignored)


def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    aliases = {alias.casefold(): name for name, names in COLUMNS.items() for alias in names}
    positions: dict[str, int] = {}
    ignored = []
    for index, title in enumerate(header):
        name = aliases.get(title.strip().casefold())
        if name and name not in positions:
            positions[name] = index
        elif title.strip():
            ignored.append(title.strip())
    return positions, ignored


def _check(line: int, values: dict[str, str]) -> tuple[Candidate | None, list[str]]:
    reasons: list[str] = []
    organisation = " ".join(values["organisation"].split())
    if not organisation:
        reasons.append("the organisation's name is empty")
    district = direction = ""
    for column, catalogue in (("district", DISTRICTS), ("direction", DIRECTIONS)):
        text = values[column]
        if not text:
            reasons.append(f"the {column} is empty")
            continue
        try:
            code = catalogue.find(text).code
        except UnknownEntry as error:
            reasons.append(str(error).split(" (`idri")[0])
            continue
        if column == "district":
            district = code
        else:
            direction = code
    email = values.get("email", "") or None
    reasons += candidate_problems(
        organisation,
        contact=values.get("contact", ""),
        email=email,
        phone=values.get("phone", ""),
        qualifications=_LIST_SEPARATORS.split(values.get("qualifications", "")),
        empty_name=False,  # reported above
    )
    willing_text = values.get("willing", "").casefold()
    if willing_text not in _YES and willing_text not in _NO:
        reasons.append(f"willing is yes or no (是/否), not {values['willing']!r}")
    if reasons:
        return None, reasons
    qualifications = [
        q.strip() for q in _LIST_SEPARATORS.split(values.get("qualifications", "")) if q.strip()
    ]
    return Candidate(
        line=line,
        organisation=organisation,
        district=district,
        direction=direction,
        contact=values.get("contact", ""),
        email=email,
        phone=values.get("phone", "") or None,
        qualifications=qualifications,
        willing=willing_text not in _NO,
    ), []


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    raw = path.read_bytes()
    # Excel saves CSV as UTF-8 with a BOM, or, on a Chinese Windows, as GB18030 (GBK).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise SheetError(f"{path.name}: neither UTF-8 nor GB18030 text")
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _xlsx_rows(path: Path, sheet_name: str | None) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise SheetError(f"{path.name}: not a readable XLSX workbook ({error})") from None
    try:
        if sheet_name is not None and sheet_name not in workbook.sheetnames:
            raise SheetError(
                f"{path.name} has no sheet {sheet_name!r} (sheets: {', '.join(workbook.sheetnames)})"
            )
        worksheet = workbook[sheet_name] if sheet_name else workbook.worksheets[0]
        for number, row in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(v) for v in row]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed as a number
    return str(value)
