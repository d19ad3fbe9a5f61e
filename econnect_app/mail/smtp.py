"""SMTP configuration (parsed from ``ECONNECT_SMTP_URL``) and a small SMTP connection.

URL forms::

    smtp://host                      plain SMTP, port 25
    smtp://user:pass@host:2525       with login (user and password are URL-decoded)
    smtp://user:pass@host?starttls=1 STARTTLS, port 587 unless given
    smtps://user:pass@host           SMTP over TLS, port 465 unless given
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_TIMEOUT_SECONDS = 20.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SmtpSecurity(StrEnum):
    """How the connection to the SMTP server is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


DEFAULT_PORTS: dict[SmtpSecurity, int] = {
    SmtpSecurity.NONE: 25,
    SmtpSecurity.STARTTLS: 587,
    SmtpSecurity.TLS: 465,
}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail. The password never appears in ``repr``."""

    host: str
    port: int
    security: SmtpSecurity = SmtpSecurity.NONE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse ``ECONNECT_SMTP_URL``; raise ``ValueError`` with a clear message when it is wrong.

    The error messages never contain the password.
    """
    if not url or not url.strip():
        raise ValueError("ECONNECT_SMTP_URL is empty; expected smtp://user:pass@host:port")
    try:
        parts = urlsplit(url.strip())
        port_text = parts.port
    except ValueError as exc:  # a non-numeric or out-of-range port
        raise ValueError(
            "ECONNECT_SMTP_URL has an invalid port; expected a number from 1 to 65535"
        ) from exc

    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(
            f"ECONNECT_SMTP_URL must start with smtp:// or smtps:// (got {scheme or 'no'} scheme)"
        )
    host = parts.hostname
    if not host:
        raise ValueError("ECONNECT_SMTP_URL has no host; expected smtp://user:pass@host:port")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("ECONNECT_SMTP_URL must not have a path; expected smtp://user:pass@host:port")

    starttls = _parse_query(parts.query)
    if scheme == "smtps":
        if starttls:
            raise ValueError(
                "ECONNECT_SMTP_URL: use either smtps:// (TLS from the start) or ?starttls=1, not both"
            )
        security = SmtpSecurity.TLS
    else:
        security = SmtpSecurity.STARTTLS if starttls else SmtpSecurity.NONE

    port = port_text if port_text is not None else DEFAULT_PORTS[security]
    if port == 0:
        raise ValueError("ECONNECT_SMTP_URL has an invalid port; expected a number from 1 to 65535")

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("ECONNECT_SMTP_URL has a password but no user name")
    if username and password is None:
        password = ""

    return SmtpConfig(
        host=host,
        port=port,
        security=security,
        username=username,
        password=password,
    )


def _parse_query(query: str) -> bool:
    """Read the query string; only ``starttls`` is known. Returns whether STARTTLS is on."""
    starttls = False
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() != "starttls":
            raise ValueError(
                f"ECONNECT_SMTP_URL has an unknown option {key!r}; only ?starttls=1 is supported"
            )
        flag = value.strip().lower()
        if flag in _TRUE or flag == "":
            starttls = True
        elif flag in _FALSE:
            starttls = False
        else:
            raise ValueError(f"ECONNECT_SMTP_URL: starttls must be 1 or 0 (got {value!r})")
    return starttls


@lru_cache(maxsize=1)
def _local_hostname() -> str:
    """The name we greet the server with (looked up once: getfqdn can be slow)."""
    return socket.getfqdn() or "localhost"


class SmtpUnavailable(Exception):
    """The server cannot take mail now, whatever the message: it cannot be reached, TLS or the
    log-in fails, or it answers 421 (service not available). Nothing is wrong with the message."""


def _only_unavailable_replies(exc: smtplib.SMTPException) -> bool:
    """Whether the server refused with 421 (it is closing, busy or shutting down) for everything."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code == 421 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421


class SmtpConnection:
    """One SMTP connection, opened on first use and reused for several messages.

    ``send`` raises ``SmtpUnavailable`` when the server cannot take mail at all (connecting,
    TLS, log-in, a 421 reply); other errors are about this message or this connection
    (``smtplib.SMTPException`` for a refusal, ``OSError`` when the connection breaks). After an
    error the connection is closed and the next send reconnects.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        # Loading the system's certificates takes tens of milliseconds: only when TLS is used.
        context = ssl.create_default_context() if config.security is not SmtpSecurity.NONE else None
        client: smtplib.SMTP
        if config.security is SmtpSecurity.TLS:
            client = smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=_local_hostname(),
                timeout=config.timeout_seconds,
                context=context,
            )
        else:
            client = smtplib.SMTP(
                config.host,
                config.port,
                local_hostname=_local_hostname(),
                timeout=config.timeout_seconds,
            )
        try:
            client.ehlo()
            if config.security is SmtpSecurity.STARTTLS:
                client.starttls(context=context)
                client.ehlo()
            if config.username:
                client.login(config.username, config.password or "")
        except BaseException:
            _close_quietly(client)
            raise
        return client

    def send(self, *, envelope_from: str, recipients: Sequence[str], message: bytes) -> dict[str, str]:
        """Send one message; returns the recipients the server refused (empty when all went)."""
        if self._client is None:
            try:
                self._client = self._connect()
            except OSError as exc:  # smtplib's errors are OSErrors too
                raise SmtpUnavailable(f"{type(exc).__name__}: {exc}") from exc
        try:
            refused = self._client.sendmail(envelope_from, list(recipients), message)
        except smtplib.SMTPException as exc:
            self.close()
            if _only_unavailable_replies(exc):
                raise SmtpUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise
        except BaseException:
            self.close()
            raise
        return {address: f"{code} {reply.decode(errors='replace')}" for address, (code, reply) in refused.items()}

    def close(self) -> None:
        """Say goodbye to the server (errors on the way out are ignored)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                _close_quietly(client)

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _close_quietly(client: smtplib.SMTP) -> None:
    try:
        client.close()
    except OSError:
        pass
