"""What a recipient gets of a mail ``compose`` writes: every value reads back as the outbox row
holds it, the message keeps to what mail servers accept, and nothing a name, an address or a
subject holds adds a header or a recipient.

The reader is the ``email`` package with ``policy.default``, with two of its limits worked
around:

- its bytes parser leaves raw UTF-8 in address headers undecoded (RFC 6532 messages: the ``.eml``
  files, and mails to an internationalised address), so the headers of such a message are read
  from its text, decoded as UTF-8 first; the body is always read from the bytes;
- its address parser puts a space between adjacent encoded words of a display name, which RFC 2047
  section 6.2 says to drop (python/cpython#128110): an encoded display name is decoded as the RFC
  says (``email.header.decode_header``).
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.errors import NonASCIILocalPartDefect
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import Parser
from email.utils import parseaddr
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from registry_builders import Script

from activities.mailer import SENDER_NAME, Outgoing, SmtpTransport, compose, message_id, render
from tests.smtp import Handler, SmtpServer

MAIL_FROM = "idri@gxj.tj.gov.cn"
CST = timezone(timedelta(hours=8))
CREATED = datetime(2025, 3, 3, 10, 0, 0, 123456, tzinfo=CST)
HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "X-Idri-Case",
    "X-Idri-Notification",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]
LONG_ORGANISATION = "天津市滨海新区高新技术产业开发区智能制造与工业设计创新中心有限公司"
SUBJECT = (
    "【天津市工业设计研究院】天津智造工业设计研究有限公司：综合评价通过，进入公示 / "
    "[Tianjin IDRI] Tianjin Zhizao Industrial Design Research Co., Ltd.: approved for public notice"
)
BODY = "王科长：\n\n您好。贵单位的申报已通过综合评价。\n\n" + "-" * 72 + "\nDear Sir or Madam,\n"


def outgoing(**changes: Any) -> Outgoing:
    """A mail as an outbox row holds it; ``key`` follows the address unless given."""
    address = changes.get("address", "wang@example.cn")
    key = changes.pop("key", f"institute-binhai-1a2b3c4d#3/applicant/{address}")
    mail = Outgoing(
        key=key,
        case_id="binhai-1a2b3c4d",
        role="applicant",
        name="王科长",
        address=address,
        subject=SUBJECT,
        body=BODY,
        created_at=CREATED,
        message_id=message_id(key, MAIL_FROM),
    )
    return replace(mail, **changes)


# --- Reading a mail back ------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """What a reader gets back of a mail: header values and body, decoded."""

    from_name: str
    from_address: str
    to_name: str
    to_address: str
    subject: str
    date: datetime
    message_id: str
    case_id: str
    key: str
    body: str


def display_name(parsed: str, raw: str) -> str:
    """The display name of an address header: ``policy.default``'s, unless it holds encoded
    words, then as RFC 2047 decodes them (python/cpython#128110)."""
    if "=?" not in raw:
        return parsed
    name, _ = parseaddr(raw)
    return str(make_header(decode_header(name)))


def read(raw: bytes) -> Read:
    """``raw`` parsed back with the email package; fails on any defect it reports."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.defects == []
    if raw.isascii():
        headers = message
    else:
        text = raw.decode("utf-8")  # strictly: an RFC 6532 message is UTF-8 throughout
        headers = Parser(policy=policy.default).parsestr(text, headersonly=True)  # type: ignore[assignment]
    assert headers.keys() == HEADERS, "exactly these headers, once each"
    for name in HEADERS:
        # A UTF-8 local part is what RFC 6532 allows; the email package notes it all the same.
        defects = [d for d in headers[name].defects if not isinstance(d, NonASCIILocalPartDefect)]
        assert defects == [], f"{name}: {defects}"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    raw_headers = Parser(policy=policy.compat32).parsestr(raw.decode("utf-8"), headersonly=True)
    senders, recipients = headers["From"].addresses, headers["To"].addresses
    assert len(senders) == 1 and len(recipients) == 1
    return Read(
        from_name=display_name(senders[0].display_name, raw_headers["From"]),
        from_address=senders[0].addr_spec,
        to_name=display_name(recipients[0].display_name, raw_headers["To"]),
        to_address=recipients[0].addr_spec,
        subject=str(headers["Subject"]),
        date=headers["Date"].datetime,
        message_id=str(headers["Message-ID"]),
        case_id=str(headers["X-Idri-Case"]),
        key=str(headers["X-Idri-Notification"]),
        body=message.get_content(),
    )


def words(text: str) -> list[str]:
    """``text`` as a reader shows a name or subject: white space at its ends or in runs may go."""
    return text.split()


def assert_reads_back(mail: Outgoing, got: Read, *, mail_from: str = MAIL_FROM) -> None:
    """Every header value and the body read back as ``mail`` holds them.

    Text that looks like an RFC 2047 encoded word (``=?utf-8?q?...?=``) may read back decoded,
    and a name the email package cannot write so that it reads back as one mailbox is left out.
    """
    assert (got.from_name, got.from_address) == (SENDER_NAME, mail_from)
    assert got.to_address == mail.address
    if "=?" not in mail.name:
        assert words(got.to_name) in (words(mail.name), [])
    if "=?" not in mail.subject:
        assert words(got.subject) == words(mail.subject)
    assert got.date == mail.created_at.replace(microsecond=0)
    assert got.message_id == mail.message_id
    assert got.case_id == mail.case_id
    assert got.key == mail.key
    assert got.body == (mail.body if mail.body.endswith("\n") else mail.body + "\n")


def assert_keeps_to_the_wire_format(raw: bytes, mail: Outgoing) -> None:
    """RFC 5321/5322 lines: CRLF only, at most 998 octets (servers refuse longer ones); all ASCII
    unless an address is not (then the transport asks for SMTPUTF8)."""
    assert raw.endswith(b"\r\n")
    for octets in raw.split(b"\r\n")[:-1]:
        assert b"\r" not in octets and b"\n" not in octets, f"bare CR or LF in {octets!r}"
        assert len(octets) <= 998, f"{len(octets)} octets: {octets[:80]!r}..."
    if mail.address.isascii():
        assert raw.isascii()


# --- Inputs -------------------------------------------------------------------------------------

TRICKY: dict[str, Outgoing] = {
    "typical": outgoing(),
    "no name": outgoing(name=""),
    "ascii name": outgoing(name="Zhang San"),
    "long organisation name": outgoing(name=LONG_ORGANISATION),
    "long organisation name, spaced": outgoing(name=f"{LONG_ORGANISATION} 工业设计中心 主任"),
    "specials in the name": outgoing(name='王 "科长", 滨海(新区) <办公室> a.b@c \\ d;e:f[g]'),
    "ascii specials": outgoing(name='Wang, "Boss" (Binhai) <x> a.b@c \\ d'),
    "quoted-looking name": outgoing(name='"王科长"'),
    "emoji name": outgoing(name="王科长 👩‍💻 🎉"),
    "internationalised address": outgoing(address="张三@例子.中国"),
    "internationalised address, long name": outgoing(
        address="张三@例子.中国", name=LONG_ORGANISATION * 3
    ),
    "plus address": outgoing(address="wang+idri@example.cn"),
    "long address in the key": outgoing(
        address="zhao.jingli.design.office@tianjin-binhai-high-tech-zone.example.com.cn"
    ),
    "long subject without spaces": outgoing(subject="设计研究院通知" * 40),
    "long ascii word in the subject": outgoing(subject="x" * 120 + " y"),
    "long emoji subject": outgoing(subject="🎉" * 300),
    "subject white space": outgoing(subject="通知  two spaces\tand a tab  "),
    "empty subject": outgoing(subject=""),
    "body without final newline": outgoing(body="第一行\n第二行"),
    "empty body": outgoing(body=""),
    "body dots and From": outgoing(body=".\n..\n.leading dot\nFrom here\n>From\n.\n"),
    "body long line": outgoing(body="长" * 2000 + "\n" + "x" * 5000),
    "body blank lines": outgoing(body="\n\n\nend\n\n"),
    "naive date": outgoing(created_at=datetime(2025, 3, 3, 10, 0)),
    "utc date": outgoing(created_at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
}
ASCII_ADDRESSED = {k: m for k, m in TRICKY.items() if m.address.isascii()}

SPECIALS = '"\\,.@()<>[]:; '
CJK = "王科长天津市工业和信息化局设计研究院滨海新区有限公司"
EMOJI = ["😀", "🎉", "👩‍💻", "🇨🇳"]
ADDRESSES = [
    "wang@example.cn",
    "zhao.jingli.design.office@tianjin-binhai-high-tech-zone.example.com.cn",
    "wang+idri@example.cn",
    "张三@例子.中国",
]


def texts(max_size: int) -> st.SearchStrategy[str]:
    """Text as names and subjects hold it: letters of any script, CJK, emoji, RFC 5322
    specials and spaces."""
    character = st.one_of(
        st.characters(categories=["L", "M", "N", "P", "S", "Zs"]),
        st.sampled_from(CJK),
        st.sampled_from(SPECIALS),
        st.sampled_from(EMOJI),
    )
    return st.lists(character, max_size=max_size).map(lambda chars: "".join(chars)[:max_size])


def bodies() -> st.SearchStrategy[str]:
    line = st.one_of(
        st.text(st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=120),
        st.sampled_from(["", ".", "..", ".dot", "From here", "-" * 72]),
        st.builds(lambda c, n: c * n, st.sampled_from(["长", "x", "🎉"]), st.integers(500, 2000)),
    )
    return st.builds(
        lambda lines, end: "\n".join(lines) + end,
        st.lists(line, max_size=30),
        st.sampled_from(["", "\n"]),
    )


@st.composite
def mails(draw: st.DrawFn) -> Outgoing:
    address = draw(st.sampled_from(ADDRESSES))
    case_id = draw(st.from_regex(r"[a-z]{2,10}-[0-9a-f]{8}", fullmatch=True))
    key = f"institute-{case_id}#{draw(st.integers(1, 999))}/applicant/{address}"
    return Outgoing(
        key=key,
        case_id=case_id,
        role="applicant",
        name=draw(texts(80)),
        address=address,
        subject=draw(texts(200)),
        body=draw(bodies()),
        created_at=draw(
            st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2099, 12, 31),
                timezones=st.sampled_from([UTC, CST, timezone(timedelta(hours=-5, minutes=-30))]),
            )
        ),
        message_id=message_id(key, MAIL_FROM),
    )


EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- 1. Everything reads back -------------------------------------------------------------------


@pytest.mark.parametrize("readable", [False, True], ids=["wire", "eml"])
@pytest.mark.parametrize("mail", TRICKY.values(), ids=TRICKY.keys())
def test_a_tricky_mail_reads_back_as_written(mail: Outgoing, readable: bool) -> None:
    assert_reads_back(mail, read(compose(mail, mail_from=MAIL_FROM, readable=readable)))


@EXAMPLES
@given(mail=mails(), readable=st.booleans())
def test_any_mail_reads_back_as_written(mail: Outgoing, readable: bool) -> None:
    assert_reads_back(mail, read(compose(mail, mail_from=MAIL_FROM, readable=readable)))


@pytest.mark.parametrize("readable", [False, True], ids=["wire", "eml"])
@pytest.mark.parametrize(
    "name",
    ["王科长", LONG_ORGANISATION, "Zhang San", '滨海新区 "工信局", 办公室', "Dr. Wang, 王科长"],
)
def test_a_chinese_or_punctuated_name_reads_back_exactly(name: str, readable: bool) -> None:
    got = read(compose(outgoing(name=name), mail_from=MAIL_FROM, readable=readable))
    assert got.to_name == name


def rendered_mails() -> list[Outgoing]:
    """Real mails of a case from survey to designation, for a few kinds of recipient."""
    script = Script("binhai-1a2b3c4d", organisation=LONG_ORGANISATION)
    records = [*script.to_public_notice(), script.designate()]
    names = ["王科长", "", "Zhang San", LONG_ORGANISATION, '滨海新区 "工信局", 办公室']
    mails = []
    for number, record in enumerate(records):
        for recipient in record.recipients:
            text = render(record, recipient, bureau_email="bureau@gxj.tj.gov.cn")
            address = recipient.email or "district@tj.gov.cn"
            key = f"{record.key}/{recipient.role}/{address}"
            mails.append(
                Outgoing(
                    key=key,
                    case_id=script.case_id,
                    role=recipient.role,
                    name=names[number % len(names)],
                    address=address,
                    subject=text.subject,
                    body=text.body,
                    created_at=record.at,
                    message_id=message_id(key, MAIL_FROM),
                )
            )
    return mails


@pytest.mark.parametrize("readable", [False, True], ids=["wire", "eml"])
def test_real_mails_read_back_exactly(readable: bool) -> None:
    mails = rendered_mails()
    assert len(mails) > 10
    for mail in mails:
        got = read(compose(mail, mail_from=MAIL_FROM, readable=readable))
        assert_reads_back(mail, got)
        assert (got.to_name, got.subject) == (mail.name, mail.subject)


@pytest.mark.parametrize("readable", [False, True], ids=["wire", "eml"])
def test_an_internationalised_sender_reads_back(readable: bool) -> None:
    mail, sender = outgoing(), "通知@工信局.中国"
    raw = compose(mail, mail_from=sender, readable=readable)
    assert_reads_back(mail, read(raw), mail_from=sender)


def test_the_eml_file_is_utf8_text_and_the_wire_message_base64() -> None:
    mail = outgoing()
    eml = compose(mail, mail_from=MAIL_FROM, readable=True)
    assert "王科长 <wang@example.cn>".encode() in eml and BODY.encode() in eml
    assert b"\r" not in eml, "LF lines, as an editor shows them"
    wire = compose(mail, mail_from=MAIL_FROM)
    assert wire.isascii() and b"Content-Transfer-Encoding: base64\r\n" in wire


def test_a_mail_is_the_same_bytes_each_time() -> None:
    # A mail sent again after a crash is recognisably the same mail.
    mail = outgoing()
    assert compose(mail, mail_from=MAIL_FROM) == compose(mail, mail_from=MAIL_FROM)
    assert f"Message-ID: {mail.message_id}\r\n".encode() in compose(mail, mail_from=MAIL_FROM)


def test_a_long_notification_key_stays_on_one_line() -> None:
    # Operators look a mail up by its key: it is written as it is, not folded or encoded.
    mail = TRICKY["long address in the key"]
    assert f"X-Idri-Notification: {mail.key}\r\n".encode() in compose(mail, mail_from=MAIL_FROM)


# --- 2. The wire format -------------------------------------------------------------------------


@pytest.mark.parametrize("mail", TRICKY.values(), ids=TRICKY.keys())
def test_a_tricky_mail_keeps_to_the_wire_format(mail: Outgoing) -> None:
    assert_keeps_to_the_wire_format(compose(mail, mail_from=MAIL_FROM), mail)


@EXAMPLES
@given(mail=mails())
def test_any_mail_keeps_to_the_wire_format(mail: Outgoing) -> None:
    assert_keeps_to_the_wire_format(compose(mail, mail_from=MAIL_FROM), mail)


@dataclass
class KeepingHandler(Handler):
    """``tests/smtp.py``'s handler, also keeping the bytes each message arrived as."""

    raw: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.original_content)
        return await super().handle_DATA(server, session, envelope)


class Utf8SmtpServer(SmtpServer):
    """``tests/smtp.py``'s server, speaking SMTPUTF8 (RFC 6531) for internationalised addresses."""

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(
                self.handler, hostname=self.host, port=self.port, enable_SMTPUTF8=True
            )
            controller.start()
            self._controller = controller


@pytest.fixture
def keeping_smtp_server(smtp_server: SmtpServer) -> Iterator[tuple[SmtpServer, KeepingHandler]]:
    handler = KeepingHandler()
    smtp_server.handler = handler
    smtp_server.start()
    yield smtp_server, handler


async def send(server: SmtpServer, mails: list[Outgoing]) -> list[bytes]:
    composed = [compose(mail, mail_from=MAIL_FROM) for mail in mails]
    async with SmtpTransport(server.host, server.port, timeout=10) as transport:
        for mail, raw in zip(mails, composed, strict=True):
            assert await transport.send(mail, raw, sender=MAIL_FROM) == "smtp"
    return composed


async def test_mails_survive_an_smtp_hop(
    keeping_smtp_server: tuple[SmtpServer, KeepingHandler],
) -> None:
    server, handler = keeping_smtp_server
    mails = list(ASCII_ADDRESSED.values())
    sent = await send(server, mails)
    assert handler.raw == sent, "the server received the bytes composed, dots and all"
    for mail, received, parsed in zip(mails, handler.raw, server.messages, strict=True):
        assert_reads_back(mail, read(received))
        assert parsed["X-Idri-Notification"] == mail.key  # as tests/smtp.py counts mails


async def test_mails_to_internationalised_addresses_survive_an_smtp_hop() -> None:
    mails = [m for m in TRICKY.values() if not m.address.isascii()]
    assert mails
    with Utf8SmtpServer() as server:
        handler = KeepingHandler()
        server.handler = handler
        server.start()
        sent = await send(server, mails)
    assert handler.raw == sent
    assert [r.rcpt_tos for r in handler.received] == [[m.address] for m in mails]
    for mail, received in zip(mails, handler.raw, strict=True):
        assert_reads_back(mail, read(received))


# --- 3. No header or recipient of the sender's choosing -----------------------------------------

# Every character str.splitlines() breaks at: a reader splitting lines with it starts a header at
# any of them.
LINE_BREAKS = [
    "\r",
    "\n",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
]
INJECTABLE = ["name", "subject", "address", "case_id", "key", "message_id"]
# What a value could hide a header or a recipient in: a line break encoded as an RFC 2047 word
# (which the email package decodes), and a long name whose quotes some Python versions drop when
# they fold it (python/cpython#80222).
DISGUISED = [
    "=?utf-8?q?x=0ABcc:_evil@example.com?=",
    "王科长 =?utf-8?b?eApCY2M6IGV2aWxAZXhhbXBsZS5jb20=?=",
    "=?utf-8?q?a=2C_evil=40example=2Ecom?=",
    "x" * 90 + ", evil@example.com",
    "x" * 90 + ": evil@example.com;",
    "王" * 80 + ", evil@example.com",
]


def assert_no_header_or_recipient_added(mail: Outgoing, readable: bool) -> None:
    try:
        raw = compose(mail, mail_from=MAIL_FROM, readable=readable)
    except ValueError:
        return  # refused: fine
    text = raw.decode("utf-8")
    for message in (
        email.message_from_bytes(raw, policy=policy.default),
        email.message_from_string(text, policy=policy.default),
    ):
        assert message.keys() == HEADERS
    to = email.message_from_string(text, policy=policy.default)["To"]
    assert [(g.display_name, [a.addr_spec for a in g.addresses]) for g in to.groups] == [
        (None, [mail.address])
    ], "the one recipient, not in a group"
    lines = text.splitlines()
    assert not any(line.startswith("Bcc") for line in lines), "a header of the sender's choosing"


@pytest.mark.parametrize("readable", [False, True], ids=["wire", "eml"])
@pytest.mark.parametrize("line_break", LINE_BREAKS, ids=[repr(b) for b in LINE_BREAKS])
@pytest.mark.parametrize("name", INJECTABLE)
def test_a_line_break_in_a_header_value_is_refused(
    name: str, line_break: str, readable: bool
) -> None:
    for value in (f"王科长{line_break}Bcc: evil@example.com", f"x{line_break}", line_break):
        with pytest.raises(ValueError, match="line breaks"):
            compose(outgoing(**{name: value}), mail_from=MAIL_FROM, readable=readable)


@pytest.mark.parametrize("readable", [False, True], ids=["wire", "eml"])
@pytest.mark.parametrize("value", DISGUISED)
@pytest.mark.parametrize("name", ["name", "subject", "case_id", "key"])
def test_a_disguised_header_or_recipient_is_not_written(
    name: str, value: str, readable: bool
) -> None:
    assert_no_header_or_recipient_added(outgoing(**{name: value}), readable)


def test_a_name_that_would_add_a_recipient_is_left_out() -> None:
    mail = outgoing(name="x" * 90 + ", evil@example.com")
    got = read(compose(mail, mail_from=MAIL_FROM))
    assert (got.to_name, got.to_address) == ("", mail.address)


@EXAMPLES
@given(
    name=st.sampled_from(INJECTABLE),
    value=st.text(st.characters(exclude_categories=["Cs"]), max_size=40).map(
        lambda text: text + "\nBcc: evil@example.com"
    ),
    readable=st.booleans(),
)
@example(name="subject", value="a\x85Bcc: evil@example.com", readable=True)
def test_no_value_starts_a_header(name: str, value: str, readable: bool) -> None:
    assert_no_header_or_recipient_added(outgoing(**{name: value}), readable)


@EXAMPLES
@given(name=texts(120), readable=st.booleans())
def test_a_mail_has_exactly_one_recipient(name: str, readable: bool) -> None:
    assert_no_header_or_recipient_added(outgoing(name=name + ", evil@example.com"), readable)
