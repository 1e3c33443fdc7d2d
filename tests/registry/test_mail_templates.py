"""Mails are bilingual (Chinese first, then English), rendered from template files."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from activities.mailer import family_of, render
from activities.templates import labels
from models.case import Level, Role, Stage
from models.notifications import ROUTES
from models.records import CaseSnapshot, EventRecord, Recipient

EVENTS = sorted(labels()["events"])
ROLES = ["applicant", "district", "bureau", "expert"]
CJK = re.compile(r"[\u4e00-\u9fff]")
DIVIDER = "-" * 72
AT = datetime(2025, 6, 3, 2, 0, tzinfo=UTC)


def a_record(event: str, to: Stage = Stage.UNDER_REVIEW, **details: str) -> EventRecord:
    return EventRecord(
        key=f"institute-t#{1}",
        workflow_id="institute-t",
        run_id="r",
        seq=1,
        at=AT,
        event=event,
        from_stage=Stage.UNDER_REVIEW,
        to_stage=to,
        actor="李处长",
        role=Role.BUREAU_OFFICER,
        reason="理由 reason",
        snapshot=CaseSnapshot(
            "t",
            "天津测试设计院有限公司",
            "nankai",
            "aerospace",
            to,
            Level.MUNICIPAL,
            2025,
            designated_at=AT,
            next_evaluation_due=AT + timedelta(days=3 * 365),
        ),
        details=details,
    )


def test_every_event_the_workflow_routes_has_a_label_and_a_template() -> None:
    assert set(ROUTES) <= set(EVENTS)
    templates = resources.files("activities.templates").joinpath("mail")
    for event in EVENTS:
        assert templates.joinpath(f"{family_of(a_record(event))}.txt.j2").is_file()


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("role", ROLES)
def test_each_mail_is_chinese_first_then_english(event: str, role: str) -> None:
    mail = render(a_record(event), Recipient(role, "张教授"), bureau_email="b@gxj.tj.gov.cn")

    zh_subject, _, en_subject = mail.subject.partition(" / ")
    assert zh_subject.startswith("【天津市工业设计研究院】") and CJK.search(zh_subject)
    assert en_subject.startswith("[Tianjin IDRI] ")
    chinese, divider, english = mail.body.partition(DIVIDER)
    assert divider, "the English part follows a divider"
    assert "天津测试设计院有限公司" in chinese and "南开区" in chinese and "航空航天" in chinese
    assert "Dear " in english and "Nankai" in english and "Aerospace" in english
    assert "天津市工业和信息化局" in chinese
    assert "Tianjin Municipal Bureau of Industry and Information Technology" in english
    for leftover in ("None", "{{", "{%", "Undefined"):
        assert leftover not in mail.body and leftover not in mail.subject
    assert "\n\n\n" not in mail.body
    assert "\n\n案件编号：t\n" in chinese and "\n\nCase: t\n" in english  # own paragraph


def test_the_approval_mail_gives_the_notice_period_as_people_count_it() -> None:
    # The notice ends at midnight Beijing time after its last day, 10 June.
    record = a_record(
        "approve",
        Stage.PUBLIC_NOTICE,
        notice_start="2025-06-03T10:00:00+08:00",
        notice_end="2025-06-11T00:00:00+08:00",
    )
    mail = render(record, Recipient("applicant", "赵经理"), bureau_email="b@gxj.tj.gov.cn")
    assert "公示期：2025年6月3日至2025年6月10日" in mail.body
    assert "Notice period: 3 June 2025 to 10 June 2025" in mail.body


def test_a_designation_mail_is_a_designation_whatever_closed_the_notice() -> None:
    for event in ("close_notice", "dismiss_objection"):
        mail = render(
            a_record(event, Stage.DESIGNATED), Recipient("district"), bureau_email="b@x.cn"
        )
        assert "确定为天津市市级工业设计研究院" in mail.body
        assert "designated a Tianjin municipal industrial design research institute" in mail.body
        assert "确定日期：2025年6月3日" in mail.body and "Designated on: 3 June 2025" in mail.body


def test_the_rectification_mail_names_the_deadline_day() -> None:
    record = a_record("order_rectification", Stage.RECTIFYING, deadline="2025-12-01T00:00:00+08:00")
    mail = render(record, Recipient("district"), bureau_email="b@x.cn")
    assert "整改期限：2025年11月30日" in mail.body
    assert "rectified by 30 November 2025" in mail.body
    assert "请督促整改落实" in mail.body  # the district supervises (DOMAIN.md)


def test_the_expert_is_asked_to_declare_a_conflict_of_interest() -> None:
    mail = render(a_record("assign_expert"), Recipient("expert", "张教授"), bureau_email="b@x.cn")
    assert mail.body.startswith("张教授专家：")
    assert "回避" in mail.body and "conflict of interest" in mail.body


def test_the_bureau_hears_who_objected() -> None:
    record = a_record("lodge_objection", Stage.PUBLIC_NOTICE, objector="市民甲")
    mail = render(record, Recipient("bureau"), bureau_email="b@x.cn")
    assert "异议人：市民甲" in mail.body and "by 市民甲" in mail.body
