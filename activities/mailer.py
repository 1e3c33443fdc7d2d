"""Mails: rendering one notification from its template, and the two ways it leaves the system.

- :class:`SmtpTransport` sends through the server in ``IDRI_SMTP_*`` (aiosmtplib).
- :class:`EmlTransport` writes an ``.eml`` file a person can open, when no server is configured
  (blocking: the deliverer calls it from the registry's writer thread).

Both take the message :func:`compose` builds from an outbox row, so
the same mail looks the same either way, and its ``Message-ID`` and ``Date`` come from the row:
a mail sent twice (a crash between sending and recording it) is recognisably the same mail.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime, formataddr
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiosmtplib

from activities.templates import direction, district, label, labels, mail_environment, parse_moment
from models.case import Stage
from models.records import EventRecord, Recipient

# --- Rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body: str


def family_of(record: EventRecord) -> str:
    """The template family of an event (``labels.json``); designations have their own."""
    if record.to_stage is Stage.DESIGNATED and record.event in (
        "close_notice",
        "dismiss_objection",
    ):
        return "designation"
    entry = labels()["events"].get(record.event)
    return entry["family"] if entry else "general"


_BLANK_RUNS = re.compile(r"\n{3,}")


def render(record: EventRecord, recipient: Recipient, *, bureau_email: str) -> RenderedMail:
    """The mail telling ``recipient`` about ``record``: Chinese first, then English."""
    snapshot = record.snapshot
    # Namespaces, not dicts, for what templates read as ``x.y``: jinja tries an attribute
    # first and falls back to the key only after catching AttributeError, a cost per lookup.
    case = SimpleNamespace(
        case_id=snapshot.case_id,
        organisation=snapshot.organisation,
        district=snapshot.district,
        direction=snapshot.direction,
        stage=snapshot.stage.value,
        level=snapshot.level.value,
        round_year=snapshot.round_year,
        designated_at=snapshot.designated_at,
        last_evaluated_at=snapshot.last_evaluated_at,
        next_evaluation_due=snapshot.next_evaluation_due,
        previous_case_id=snapshot.previous_case_id,
    )
    context: dict[str, Any] = {
        "event": record.event,
        "ev": SimpleNamespace(**label("events", record.event)),
        "case": case,
        "district_l": SimpleNamespace(**district(snapshot.district)),
        "direction_l": SimpleNamespace(**direction(snapshot.direction)),
        "level_l": SimpleNamespace(**label("levels", snapshot.level.value)),
        "from_stage": record.from_stage.value,
        "to_stage": record.to_stage.value,
        "from_l": SimpleNamespace(**label("stages", record.from_stage.value)),
        "to_l": SimpleNamespace(**label("stages", record.to_stage.value)),
        "recipient": SimpleNamespace(role=recipient.role, name=recipient.name),
        "role_l": SimpleNamespace(**label("roles", recipient.role)),
        "actor": record.actor,
        "at": record.at,
        "reason": record.reason,
        "details": dict(record.details),
        "notice_start": parse_moment(record.details.get("notice_start")),
        "notice_end": parse_moment(record.details.get("notice_end")),
        "bureau_email": bureau_email,
    }
    template = mail_environment().get_template(f"mail/{family_of(record)}.txt.j2")
    text = template.render(context)
    subject, _, body = text.partition("\n")
    # Collapse runs of blank lines that optional template sections leave behind.
    body = _BLANK_RUNS.sub("\n\n", body.strip("\n")) + "\n"
    return RenderedMail(subject=" ".join(subject.split()), body=body)


# --- Composing --------------------------------------------------------------------------------


SENDER_NAME = "天津市工业和信息化局 Tianjin Municipal Bureau of Industry and Information Technology"


def message_id(notification_key: str, mail_from: str) -> str:
    """A ``Message-ID`` that depends only on the notification key (and the sender's domain)."""
    digest = hashlib.sha256(notification_key.encode()).hexdigest()[:32]
    domain = mail_from.rpartition("@")[2] or "idri.invalid"
    return f"<{digest}.idri@{domain}>"


@dataclass(frozen=True)
class Outgoing:
    """What a transport needs of an outbox row."""

    key: str
    case_id: str
    role: str
    name: str
    address: str
    subject: str
    body: str
    created_at: datetime
    message_id: str


def compose(mail: Outgoing, *, mail_from: str, readable: bool = False) -> bytes:
    """The message for one outbox row, as bytes to send or write.

    ``readable`` (an ``.eml`` file a person opens in an editor) keeps the headers and body as
    plain UTF-8 text; otherwise non-ASCII header text becomes RFC 2047 encoded words and the body
    base64, for the wire. Written out directly rather than with :class:`email.message.EmailMessage`,
    whose header parsing and refolding cost several milliseconds a mail: the outbox's headers are
    few and known, and ``tests/registry/test_mail_format.py`` parses the result back with the
    ``email`` package.
    """
    utf8 = readable or not (mail.address.isascii() and mail_from.isascii())
    _refuse_line_breaks(mail.address)
    to = _mailbox(mail.name, mail.address, utf8=utf8) if mail.name else mail.address
    lines = [
        _sender_header(mail_from, utf8),
        _header("To", to, utf8=utf8, structured=True),
        _header("Subject", mail.subject, utf8=utf8),
        f"Date: {format_datetime(mail.created_at)}",
        _header("Message-ID", mail.message_id, utf8=utf8),
        _header("X-Idri-Case", mail.case_id, utf8=utf8),
        _header("X-Idri-Notification", mail.key, utf8=utf8),
        'Content-Type: text/plain; charset="utf-8"',
        f"Content-Transfer-Encoding: {'8bit' if readable else 'base64'}",
        "MIME-Version: 1.0",
        "",
    ]
    head = "\n".join(lines)
    body = mail.body if mail.body.endswith("\n") else mail.body + "\n"
    if readable:
        return (head + "\n" + body).encode()
    encoded = base64.encodebytes(body.encode())
    return (head + "\n").replace("\n", "\r\n").encode() + encoded.replace(b"\n", b"\r\n")


_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ESCAPED = re.compile(r'[\\"]')
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""What :meth:`str.splitlines` breaks at (as :class:`email.message.EmailMessage` refuses them):
a reader splitting lines with it would start a header at any of these."""
_MAX_LINE = 78
_MAX_OCTETS = 998
"""RFC 5322's hard limit on a line (RFC 6532: in octets of UTF-8)."""
_MAX_WORD = 75
"""RFC 2047's limit on one encoded word."""
_CHROME = len("=?utf-8?b??=")


def _mailbox(name: str, address: str, *, utf8: bool) -> str:
    """``name <address>``, the name quoted or encoded as RFC 5322 and 2047 want it."""
    _refuse_line_breaks(name)
    if not _needs_encoding(name, utf8):
        quoted = name
        if _SPECIALS.search(name):
            quoted = '"' + _ESCAPED.sub(r"\\\g<0>", name) + '"'
        if len(quoted) <= 200 or not _too_long(f"{quoted} <{address}>"):
            return f"{quoted} <{address}>"
    # Too long for one line: encoded words, of the name itself (they need no quotes).
    words = _encoded_words(name, len("To: "))
    last_line = len(words) - words.rfind("\n") - 1 if "\n" in words else len(f"To: {words}")
    space = " " if last_line + len(address) + 3 <= _MAX_LINE else "\n "
    return f"{words}{space}<{address}>"


def _needs_encoding(text: str, utf8: bool) -> bool:
    # Text that looks like an encoded word would be decoded by a reader: encode it too.
    return (not utf8 and not text.isascii()) or "=?" in text


def _too_long(text: str) -> bool:
    # A line over 998 octets is refused by mail servers (a long run of 4-byte characters).
    return len(text.encode()) > _MAX_OCTETS - 100


@functools.cache
def _sender_header(mail_from: str, utf8: bool) -> str:
    # The same for every mail: built once.
    if utf8:
        mailbox = _mailbox(SENDER_NAME, mail_from, utf8=True)
        return _header("From", mailbox, utf8=True, structured=True)
    # By the email package, which encodes only the Chinese part of the name.
    message = EmailMessage(policy=default)
    message["From"] = formataddr((SENDER_NAME, mail_from))
    folded = message.as_string().partition(":")[2].strip()
    return "From: " + folded.replace("\r\n", "\n")


def _header(name: str, value: str, *, utf8: bool, structured: bool = False) -> str:
    """One header line, folded at its spaces when long; text of an unstructured header becomes
    encoded words when not ``utf8`` and not ASCII (a structured one arrives encoded already)."""
    if not structured:
        _refuse_line_breaks(value)
        if _needs_encoding(value, utf8) or (len(value) > 200 and _too_long(value)):
            return f"{name}: {_encoded_words(value, len(name) + 2)}"
    line = f"{name}: {value}"
    if len(line) <= _MAX_LINE or "\n" in value:  # short, or folded already
        return line
    # The first word stays on the header's line: folding before it would add a space to the value.
    words = value.split(" ")
    folded, current = [], f"{name}: {words[0]}"
    for word in words[1:]:
        if word and len(current) + 1 + len(word) > _MAX_LINE:
            folded.append(current)
            current = " " + word  # the space that was there starts the continuation line
        else:
            current = f"{current} {word}"
    folded.append(current)
    return "\n".join(folded)


def _encoded_words(text: str, first_line_used: int) -> str:
    """``text`` as UTF-8 base64 encoded words of at most 75 characters, one per folded line, each
    holding whole characters (RFC 2047 section 5)."""
    data = text.encode()
    words, start, room = [], 0, _MAX_WORD - first_line_used
    while True:
        end = min(start + (room - _CHROME) // 4 * 3, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character: back off
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode()}?=")
        if end >= len(data):
            return "\n ".join(words)
        start, room = end, _MAX_WORD


def _refuse_line_breaks(value: str) -> None:
    # A line break in a header value would start a header of the sender's choosing.
    if _LINE_BREAKS.search(value):
        raise ValueError(f"header values may not contain line breaks: {value!r}")


# --- Transports -------------------------------------------------------------------------------


class TransportUnavailable(RuntimeError):
    """The mail server cannot be reached: nothing was sent, try again later."""


class RecipientRefused(RuntimeError):
    """The server refused this mail; ``permanent`` for a 5xx answer (retrying will not help)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class EmlTransport:
    """Writes each mail to ``<outbox>/<case>-<hash>.eml``; writing it again gives the same file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, mail: Outgoing) -> Path:
        safe_case = re.sub(r"[^A-Za-z0-9_.-]", "_", mail.case_id)
        digest = hashlib.sha256(mail.key.encode()).hexdigest()[:16]
        return self.directory / f"{safe_case}-{mail.role}-{digest}.eml"

    def write(self, mail: Outgoing, message: bytes) -> str:
        """Write ``message`` as the mail's file (blocking; the directory exists); returns its
        path."""
        path = self.path_for(mail)
        # Write then rename: a reader never sees half a mail, a crash leaves no partial file.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(message)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(path)


class SmtpTransport:
    """One SMTP connection for a batch of mails."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 30,
    ) -> None:
        self._client = aiosmtplib.SMTP(
            hostname=host, port=port, timeout=timeout, start_tls=starttls, use_tls=False
        )
        self._username, self._password = username, password or ""

    async def __aenter__(self) -> SmtpTransport:
        try:
            await self._client.connect()
            if self._username:
                await self._client.login(self._username, self._password)
        except (aiosmtplib.SMTPException, OSError) as error:
            raise TransportUnavailable(
                f"mail server {self._client.hostname}:{self._client.port} unavailable: {error}"
            ) from error
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client.is_connected:
            try:
                await self._client.quit()
            except (aiosmtplib.SMTPException, OSError):
                self._client.close()

    async def send(self, mail: Outgoing, message: bytes, *, sender: str) -> str:
        # SMTPUTF8 only when an address needs it; the message is then composed with UTF-8 headers.
        options = [] if sender.isascii() and mail.address.isascii() else ["SMTPUTF8"]
        try:
            _refused, _reply = await self._client.sendmail(
                sender, [mail.address], message, mail_options=options
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            raise RecipientRefused(
                f"{mail.address} refused: {error}", permanent=all(c >= 500 for c in codes)
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            if error.code >= 500:
                raise RecipientRefused(f"{mail.address}: {error}", permanent=True) from error
            if error.code in (421,):  # the server is closing the connection
                raise TransportUnavailable(str(error)) from error
            raise RecipientRefused(f"{mail.address}: {error}", permanent=False) from error
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError) as error:
            raise TransportUnavailable(f"mail server lost: {error}") from error
        return "smtp"
