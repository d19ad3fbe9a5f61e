"""Parsing ECONNECT_SMTP_URL."""

from __future__ import annotations

import pytest

from econnect_app.mail.smtp import SmtpConfig, SmtpSecurity, parse_smtp_url


def test_plain_smtp_with_login_and_port() -> None:
    assert parse_smtp_url("smtp://mailer:s3cret@mail.example.com:2525") == SmtpConfig(
        host="mail.example.com",
        port=2525,
        security=SmtpSecurity.NONE,
        username="mailer",
        password="s3cret",
    )


@pytest.mark.parametrize(
    ("url", "security", "port"),
    [
        ("smtp://mail.example.com", SmtpSecurity.NONE, 25),
        ("smtp://mail.example.com/", SmtpSecurity.NONE, 25),
        ("smtp://mail.example.com?starttls=1", SmtpSecurity.STARTTLS, 587),
        ("smtp://mail.example.com?starttls=true", SmtpSecurity.STARTTLS, 587),
        ("smtp://mail.example.com?starttls=0", SmtpSecurity.NONE, 25),
        ("smtp://mail.example.com:2525?starttls=1", SmtpSecurity.STARTTLS, 2525),
        ("smtps://mail.example.com", SmtpSecurity.TLS, 465),
        ("SMTPS://mail.example.com:4650", SmtpSecurity.TLS, 4650),
    ],
)
def test_security_and_default_ports(url: str, security: SmtpSecurity, port: int) -> None:
    config = parse_smtp_url(url)
    assert config.security is security
    assert config.port == port
    assert config.host == "mail.example.com"
    assert config.username is None
    assert config.password is None


def test_user_and_password_are_url_decoded() -> None:
    config = parse_smtp_url("smtps://no-reply%40example.com:p%40ss%3Aw%2Frd%20x@smtp.example.com")
    assert config.username == "no-reply@example.com"
    assert config.password == "p@ss:w/rd x"


def test_user_without_password_gets_an_empty_password() -> None:
    config = parse_smtp_url("smtp://mailer@localhost:1025")
    assert config.username == "mailer"
    assert config.password == ""


def test_ipv6_host() -> None:
    config = parse_smtp_url("smtp://[::1]:1025")
    assert config.host == "::1"
    assert config.port == 1025


def test_password_never_appears_in_repr() -> None:
    config = parse_smtp_url("smtp://mailer:TopSecret@localhost")
    assert "TopSecret" not in repr(config)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("mail.example.com:25", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://:pw@:25", "no host"),
        ("smtp://mail.example.com:abc", "invalid port"),
        ("smtp://mail.example.com:70000", "invalid port"),
        ("smtp://mail.example.com:0", "invalid port"),
        ("smtp://mail.example.com/inbox", "path"),
        ("smtp://mail.example.com?tls=1", "unknown option"),
        ("smtp://mail.example.com?starttls=maybe", "starttls must be"),
        ("smtps://mail.example.com?starttls=1", "not both"),
        ("smtp://:secret@mail.example.com", "no user name"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_smtp_url(url)


def test_errors_do_not_reveal_the_password() -> None:
    with pytest.raises(ValueError) as caught:
        parse_smtp_url("smtp://mailer:TopSecret@mail.example.com:notaport")
    assert "TopSecret" not in str(caught.value)
