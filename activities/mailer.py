"""Mails: rendering one notification from its template, and the two ways it leaves the system.

- :class:`SmtpTransport` sends through the server in ``IDRI_SMTP_*`` (aiosmtplib).
- :class:`EmlTransport` writes an ``.eml`` file a person can open, when no server is configured
  (blocking: the deliverer calls it from the registry's writer thread).

Both take the message :func:`compose` builds from an outbox row, so
the same mail looks the same either way, and its ``Message-ID`` and ``Date`` come from the row:
a mail sent twice (a crash between sending and recording it) is recognisably the same mail.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email import message_from_string, policy
from email.charset import Charset
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
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


_EML = policy.default.clone(utf8=True)
"""``.eml`` files: UTF-8 headers and LF lines, as a text editor shows them."""

_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""What :meth:`str.splitlines` breaks at: a reader splitting lines with it would start a header
at any of these."""


def compose(mail: Outgoing, *, mail_from: str, readable: bool = False) -> bytes:
    """The message for one outbox row, as bytes to send or write.

    ``readable`` (an ``.eml`` file a person opens in an editor) keeps the headers and body as
    plain UTF-8 text with LF lines; otherwise the message is for the wire: CRLF lines, the body
    base64, and non-ASCII header text as RFC 2047 encoded words, unless an address is not ASCII
    (then the server is asked for SMTPUTF8 and the headers are UTF-8, RFC 6532).

    Raises:
        ValueError: a header value holds a line break (it would start a header of its own).
    """
    for value in (mail.name, mail.address, mail.subject, mail.message_id, mail.case_id, mail.key):
        _refuse_line_breaks(value)
    written_as = _policy(mail, mail_from, readable=readable)
    # Built with LF lines, so a base64 body decodes to the lines the outbox row holds; the
    # policy it is written with gives the headers and the lines around the body their CRLF.
    message = EmailMessage(policy=_EML)
    message["From"] = _mailbox(SENDER_NAME, mail_from, written_as)
    message["To"] = _mailbox(mail.name, mail.address, written_as)
    message["Subject"] = _as_text(mail.subject)
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = mail.message_id
    _set_trace_header(message, "X-Idri-Case", mail.case_id, written_as)
    _set_trace_header(message, "X-Idri-Notification", mail.key, written_as)
    message.set_content(mail.body, charset="utf-8", cte="8bit" if readable else "base64")
    return message.as_bytes(policy=written_as)


def _policy(mail: Outgoing, mail_from: str, *, readable: bool) -> EmailPolicy[EmailMessage]:
    """How the message is written: an ``.eml`` file, or for the wire, with UTF-8 headers only
    where an address needs them (the transport then asks for SMTPUTF8, on the same test)."""
    if readable:
        chosen = _EML
    elif mail.address.isascii() and mail_from.isascii():
        chosen = policy.SMTP
    else:
        chosen = policy.SMTPUTF8
    # Headers set with ``set_raw`` are written as given (see _set_trace_header).
    return chosen.clone(refold_source="none")


def _refuse_line_breaks(value: str) -> None:
    # A line break in a header value would start a header of the sender's choosing, or end the
    # headers early; the email package refuses one only when text follows it.
    if _LINE_BREAKS.search(value):
        raise ValueError(f"header values may not contain line breaks: {value!r}")


def _mailbox(name: str, address: str, written_as: EmailPolicy[EmailMessage]) -> str:
    """``name <address>``, or the bare address when the header the email package would write
    for the name does not read back as this one mailbox.

    Some Python versions drop the quotes of a quoted name too long for one line when they fold
    it (python/cpython#80222): a comma or colon in the name would then add a recipient, or make
    the header a group without any. Such a name is left out rather than trusted.
    """
    # username and domain, not addr_spec: Address refuses to parse a UTF-8 local part.
    local, _, domain = address.partition("@")
    bare = str(Address(username=local, domain=domain))
    if not name:
        return bare
    named = str(Address(display_name=name, username=local, domain=domain))
    if "=?" not in name and not _NEEDS_QUOTES.search(name):
        # Nothing to quote (nor an encoded word that decodes to something to quote), so
        # nothing the folding could unquote.
        return named
    return named if _reads_back_as(named, address, written_as) else bare


_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,."]')
"""RFC 5322's specials: a display name with one of them is written quoted."""


def _reads_back_as(mailbox: str, address: str, written_as: EmailPolicy[EmailMessage]) -> bool:
    """Whether the ``To`` header the email package writes for ``mailbox`` reads back, by the
    same package, as ``address`` alone; setting it refuses line breaks (``ValueError``)."""
    probe = EmailMessage(policy=written_as)
    probe["To"] = mailbox
    folded = probe["To"].fold(policy=written_as)
    try:
        read = message_from_string(folded, policy=policy.default)["To"]
    except Exception:  # the package failing on its own output (a name read as a group, say)
        return False
    mailboxes = [
        (group.display_name, [a.addr_spec for a in group.addresses]) for group in read.groups
    ]
    return mailboxes == [(None, [address])]  # one mailbox, not in a group


def _as_text(text: str) -> str:
    """``text`` as the email package should be given it, so that it takes it as written.

    The package decodes whatever looks like an RFC 2047 encoded word in a header value it is
    given; decoded, such a word can carry a line break into the header, which some Python
    versions then write out as a header of its own. Text that might hold one is handed over as
    one encoded word of the whole text, which the package decodes to the text itself.
    """
    return Charset("utf-8").header_encode(text) if "=?" in text else text


def _set_trace_header(
    message: EmailMessage, name: str, value: str, written_as: EmailPolicy[EmailMessage]
) -> None:
    """A header to find a mail by, written on one line as it is: folded, a long value would
    read back with a leading space, or as encoded words; 8-bit text only where the policy takes
    it (line breaks are refused already)."""
    if value.isascii() or written_as.utf8:
        message.set_raw(name, value)
    else:
        message[name] = _as_text(value)


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
