"""A real SMTP server for tests (aiosmtpd in its own thread) that can be stopped and started again
on the same port, to play a mail server outage.

Used by the lifecycle tests. It does everything ``tests/registry/registry_smtp.py`` does
(refusals, ``settings()``), so that module can become a re-export of this one.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from idri.settings import Settings


@dataclass
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """aiosmtpd handler: keeps every message; refuses the addresses in ``refuse`` with their
    reply (e.g. ``"550 5.1.1 mailbox unavailable"``)."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on a fixed free port of 127.0.0.1, stopped and started at will.

    Use it as a context manager to make sure its thread stops with the test.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.handler = Handler()
        self._controller: Controller | None = None

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return [r.message for r in self.handler.received]

    def notification_keys(self) -> Counter[str]:
        """How often each notification (header ``X-Idri-Notification``) was received."""
        return Counter(str(m["X-Idri-Notification"]) for m in self.messages)

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(self.handler, hostname=self.host, port=self.port)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, base: Settings) -> Settings:
        """``base`` sending through this server."""
        return base.model_copy(update={"smtp_host": self.host, "smtp_port": self.port})

    def refuses_connections(self) -> bool:
        """True when nothing listens on the port (the outage is real)."""
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex((self.host, self.port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
