"""A real SMTP server on loopback that keeps every message it receives, for tests.

(Named ``mail_catcher`` rather than ``mailbox`` so it never shadows the standard library module.)

    catcher = MailCatcher.start()          # aiosmtpd on 127.0.0.1:<free port>
    ...  the app sends to catcher.url  ...
    email = catcher.wait_for_email("ann@example.test", subject_contains="reset")
    page.goto(email.link_to("/reset-password/"))
    catcher.stop()
"""

from __future__ import annotations

import email
import email.policy
import html
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses
from functools import cached_property
from typing import ClassVar
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_URL = re.compile(r"""https?://[^\s"'<>]+""")
_TRAILING_PUNCTUATION = ".,;:!?)]}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_links(*bodies: str) -> tuple[str, ...]:
    """Every distinct http(s) URL in the given bodies, in order of appearance."""
    links: list[str] = []
    for body in bodies:
        for match in _URL.findall(body):
            link = html.unescape(match).rstrip(_TRAILING_PUNCTUATION)
            if link not in links:
                links.append(link)
    return tuple(links)


class ReceivedEmail:
    """One message as the SMTP server received it: its raw bytes and envelope, parsed on first read
    (the server itself only stores, as a mail server does: parsing MIME costs milliseconds a message,
    which a benchmark sending a thousand would otherwise pay inside the server)."""

    def __init__(self, raw: bytes, *, mail_from: str = "", rcpt_tos: Sequence[str] = ()) -> None:
        self.raw = raw
        self.mail_from = mail_from
        self.envelope_recipients: tuple[str, ...] = tuple(address.strip().lower() for address in rcpt_tos)

    def __repr__(self) -> str:
        return f"ReceivedEmail(recipients={self.envelope_recipients!r}, bytes={len(self.raw)})"

    @classmethod
    def parse(cls, raw: bytes, *, mail_from: str = "", rcpt_tos: Sequence[str] = ()) -> ReceivedEmail:
        """Build from the raw bytes of a message and its SMTP envelope."""
        return cls(raw, mail_from=mail_from, rcpt_tos=rcpt_tos)

    @cached_property
    def message(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    @cached_property
    def recipients(self) -> tuple[str, ...]:
        """The envelope recipients plus the To/Cc addresses, lower-cased, each once."""
        header_addresses = [
            address
            for _name, address in getaddresses(
                self.message.get_all("To", []) + self.message.get_all("Cc", [])
            )
        ]
        recipients: list[str] = []
        for address in [*self.envelope_recipients, *header_addresses]:
            address = address.strip().lower()
            if address and address not in recipients:
                recipients.append(address)
        return tuple(recipients)

    @cached_property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @cached_property
    def text(self) -> str:
        return _body(self.message, "plain")

    @cached_property
    def html(self) -> str:
        return _body(self.message, "html")

    @cached_property
    def links(self) -> tuple[str, ...]:
        return find_links(self.text, self.html)

    def is_for(self, address: str) -> bool:
        """Whether `address` is one of the recipients (case-insensitive)."""
        return address.strip().lower() in self.recipients

    def link_to(self, path_prefix: str) -> str:
        """The first link whose path (or whole URL) starts with `path_prefix`.

        `link_to("/reset-password/")` returns e.g. "http://localhost:3999/reset-password/abc…".
        """
        for link in self.links:
            if link.startswith(path_prefix) or urlsplit(link).path.startswith(path_prefix):
                return link
        raise AssertionError(
            f"No link starting with {path_prefix!r} in email {self.subject!r}; links: {list(self.links)}"
        )


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    return str(part.get_content())


class _StoringHandler:
    """aiosmtpd handler: hands every accepted message to a callback."""

    def __init__(self, on_message: Callable[[ReceivedEmail], None]) -> None:
        self._on_message = on_message

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self._on_message(
            ReceivedEmail.parse(raw, mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos))
        )
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on 127.0.0.1 that stores what it receives and lets tests wait for it.

    `wait_for_email` hands out each message once: two calls for the same address return the
    first and then the second message, so a test that triggers a mail twice waits for both.
    """

    latest: ClassVar[MailCatcher | None] = None  # the last one started: where shared flows read mail

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._messages: list[ReceivedEmail] = []
        self._handed_out: set[int] = set()
        self._changed = threading.Condition()
        self._controller = Controller(
            _StoringHandler(self._store), hostname=self.host, port=self.port, ready_timeout=10
        )

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int | None = None) -> MailCatcher:
        """Create and start a server on a free port (``MailCatcher.latest`` until another starts)."""
        catcher = cls(host, port)
        catcher._controller.start()
        MailCatcher.latest = catcher
        return catcher

    def stop(self) -> None:
        """Stop the server."""
        self._controller.stop()

    @property
    def url(self) -> str:
        """The value for ECONNECT_SMTP_URL."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[ReceivedEmail]:
        """Every message received so far, oldest first."""
        with self._changed:
            return list(self._messages)

    def messages_to(self, address: str) -> list[ReceivedEmail]:
        """Every message received so far for `address`, oldest first."""
        return [message for message in self.messages if message.is_for(address)]

    def _store(self, message: ReceivedEmail) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def wait_for_email(self, to: str, subject_contains: str = "", timeout: float = 30) -> ReceivedEmail:
        """Wait (bounded) for the next not yet returned message to `to` whose subject contains
        `subject_contains` (case-insensitive), and return it."""
        wanted = subject_contains.lower()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, message in enumerate(self._messages):
                    if index in self._handed_out or not message.is_for(to):
                        continue
                    if wanted in message.subject.lower():
                        self._handed_out.add(index)
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(timeout=min(remaining, 0.25))
            received = [(m.recipients, m.subject) for m in self._messages]
        raise AssertionError(
            f"No email to {to!r} with a subject containing {subject_contains!r} within {timeout:g} s; "
            f"received: {received}"
        )
