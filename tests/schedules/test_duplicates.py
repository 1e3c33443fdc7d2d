"""错位发展: a case in a direction where its district already has an institute, or another open
application, is flagged for the reviewing officer (a warning, never a refusal)."""

from __future__ import annotations

from models.case import Stage
from models.duplicates import CaseRef, duplicate_warning, duplicate_warnings


def ref(case_id: str, stage: Stage, district: str = "binhai", direction: str = "ai") -> CaseRef:
    return CaseRef(case_id, f"{case_id}公司", district, direction, stage)


NEW = ref("new", Stage.RECOMMENDED)


def test_a_designated_institute_in_the_same_direction_and_district_warns() -> None:
    warning = duplicate_warning(NEW, [NEW, ref("old", Stage.DESIGNATED)])
    assert warning is not None
    assert [c.case_id for c in warning.institutes] == ["old"]
    assert "old公司 (old)" in warning.message and "错位发展" in warning.message


def test_an_institute_under_evaluation_or_rectifying_is_still_in_the_registry() -> None:
    for stage in (Stage.UNDER_EVALUATION, Stage.RECTIFYING, Stage.NATIONAL_REVIEW):
        assert duplicate_warning(NEW, [ref("old", stage)]) is not None


def test_another_open_application_in_the_same_direction_and_district_warns() -> None:
    warning = duplicate_warning(NEW, [ref("rival", Stage.SURVEYED)])
    assert warning is not None and [c.case_id for c in warning.open_cases] == ["rival"]


def test_other_directions_districts_and_closed_cases_do_not_warn() -> None:
    others = [
        ref("other-direction", Stage.DESIGNATED, direction="biomedicine"),
        ref("other-district", Stage.DESIGNATED, district="heping"),
        ref("delisted", Stage.DELISTED),
        ref("rejected", Stage.REJECTED),
        ref("open-elsewhere", Stage.SURVEYED, district="heping"),
    ]
    assert duplicate_warning(NEW, others) is None


def test_city_scope_also_names_institutes_of_other_districts() -> None:
    warning = duplicate_warning(
        NEW, [ref("elsewhere", Stage.DESIGNATED, district="heping")], scope="city"
    )
    assert warning is not None and [c.case_id for c in warning.institutes] == ["elsewhere"]


def test_the_report_warns_open_applications_only() -> None:
    cases = [ref("a-institute", Stage.DESIGNATED), NEW, ref("b-rival", Stage.PLAN_SUBMITTED)]
    assert [w.case_id for w in duplicate_warnings(cases)] == ["b-rival", "new"]
