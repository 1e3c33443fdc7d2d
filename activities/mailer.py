"""Mails: rendering one notification from its template, and the two ways it leaves the system.

- :class:`SmtpTransport` sends through the server in ``IDRI_SMTP_*`` (aiosmtplib).
- :class:`EmlTransport` writes an ``.eml`` file a person can open, when no server is configured.

Both take an :class:`email.message.EmailMessage` built by :func:`compose` from an outbox row, so
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
from email.message import EmailMessage
from email.policy import SMTPUTF8, default
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Protocol

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


def render(record: EventRecord, recipient: Recipient, *, bureau_email: str) -> RenderedMail:
    """The mail telling ``recipient`` about ``record``: Chinese first, then English."""
    snapshot = record.snapshot
    case = {
        "case_id": snapshot.case_id,
        "organisation": snapshot.organisation,
        "district": snapshot.district,
        "direction": snapshot.direction,
        "stage": snapshot.stage.value,
        "level": snapshot.level.value,
        "round_year": snapshot.round_year,
        "designated_at": snapshot.designated_at,
        "last_evaluated_at": snapshot.last_evaluated_at,
        "next_evaluation_due": snapshot.next_evaluation_due,
        "previous_case_id": snapshot.previous_case_id,
    }
    context: dict[str, Any] = {
        "event": record.event,
        "ev": label("events", record.event),
        "case": case,
        "district_l": district(snapshot.district),
        "direction_l": direction(snapshot.direction),
        "level_l": label("levels", snapshot.level.value),
        "from_stage": record.from_stage.value,
        "to_stage": record.to_stage.value,
        "from_l": label("stages", record.from_stage.value),
        "to_l": label("stages", record.to_stage.value),
        "recipient": {"role": recipient.role, "name": recipient.name},
        "role_l": label("roles", recipient.role),
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
    body = re.sub(r"\n{3,}", "\n\n", body.strip("\n")) + "\n"
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


def compose(mail: Outgoing, *, mail_from: str, readable: bool = False) -> EmailMessage:
    """The message for one outbox row; ``readable`` keeps the body as plain UTF-8 text (8bit)
    for ``.eml`` files a person opens in an editor, instead of base64 for the wire."""
    message = EmailMessage(policy=SMTPUTF8 if readable else default)
    message["From"] = formataddr((SENDER_NAME, mail_from))
    message["To"] = formataddr((mail.name, mail.address)) if mail.name else mail.address
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = mail.message_id
    message["X-Idri-Case"] = mail.case_id
    message["X-Idri-Notification"] = mail.key
    message.set_content(mail.body, charset="utf-8", cte="8bit" if readable else "base64")
    return message


# --- Transports -------------------------------------------------------------------------------


class TransportUnavailable(RuntimeError):
    """The mail server cannot be reached: nothing was sent, try again later."""


class RecipientRefused(RuntimeError):
    """The server refused this mail; ``permanent`` for a 5xx answer (retrying will not help)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    name: str

    async def __aenter__(self) -> Transport: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, mail: Outgoing, message: EmailMessage) -> str:
        """Deliver one message; returns how (``smtp`` or the file written)."""
        ...


class EmlTransport:
    """Writes each mail to ``<outbox>/<case>-<hash>.eml``; writing it again gives the same file."""

    name = "eml"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def __aenter__(self) -> EmlTransport:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def path_for(self, mail: Outgoing) -> Path:
        safe_case = re.sub(r"[^A-Za-z0-9_.-]", "_", mail.case_id)
        digest = hashlib.sha256(mail.key.encode()).hexdigest()[:16]
        return self.directory / f"{safe_case}-{mail.role}-{digest}.eml"

    async def send(self, mail: Outgoing, message: EmailMessage) -> str:
        path = self.path_for(mail)
        data = message.as_bytes()
        # Write then rename: a reader never sees half a mail, a crash leaves no partial file.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(path)


class SmtpTransport:
    """One SMTP connection for a batch of mails."""

    name = "smtp"

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

    async def send(self, mail: Outgoing, message: EmailMessage) -> str:
        try:
            _refused, _reply = await self._client.send_message(message)
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
