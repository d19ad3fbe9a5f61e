"""Production mode: the settings it requires, and the browser origin it allows.

`reflex run --env prod` sets ``REFLEX_ENV_MODE=prod`` for itself and its backend workers. In that
mode the app refuses to start without a real secret key, an SMTP server and its public URL, or with
settings that would expose credentials: an SMTP URL it cannot read, an SMTP login sent without TLS
to another machine, a public URL without https on another machine. Only the public URL may open
the websocket or call the backend from a browser, in development too.

rxconfig.py imports this module, so at import time it imports nothing from the app but the
settings (the SMTP URL parser is imported when production settings are checked).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from urllib.parse import urlsplit

from econnect_app.settings import DEFAULT_PUBLIC_URL, Settings

MIN_SECRET_KEY_LENGTH = 32
_DEFAULT_PORTS = {"http": 80, "https": 443}
SMTP_URL_EXAMPLES = (
    "smtp://user:password@mail.example.com:587?starttls=1 or smtps://user:password@mail.example.com"
)


def is_production(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` selects Reflex's production mode (``REFLEX_ENV_MODE=prod``)."""
    return environ.get("REFLEX_ENV_MODE", "").strip().lower() == "prod"


def production_problems(environ: Mapping[str, str]) -> list[str]:
    """What production mode is missing, one sentence per environment variable (empty: ready)."""
    problems: list[str] = []
    secret_key = environ.get("ECONNECT_SECRET_KEY", "").strip()
    if not secret_key:
        problems.append(
            "ECONNECT_SECRET_KEY is not set, so the generated development key would be used: "
            f"set it to a random secret of at least {MIN_SECRET_KEY_LENGTH} characters, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"ECONNECT_SECRET_KEY is too short ({len(secret_key)} characters): "
            f"use a random secret of at least {MIN_SECRET_KEY_LENGTH} characters."
        )
    smtp_url = environ.get("ECONNECT_SMTP_URL", "").strip()
    if not smtp_url:
        problems.append(
            "ECONNECT_SMTP_URL is not set, so no email would ever be sent: set it to your mail server, "
            f"e.g. {SMTP_URL_EXAMPLES}."
        )
    else:
        problems.extend(smtp_url_problems(smtp_url))
    public_url = environ.get("ECONNECT_PUBLIC_URL", "").strip()
    if not public_url:
        problems.append(
            "ECONNECT_PUBLIC_URL is not set: set it to the address users open in their browser, e.g. "
            "https://econnect.example.com (links in emails point there; only that origin may connect)."
        )
    elif public_origin(public_url) is None:
        problems.append(
            f"ECONNECT_PUBLIC_URL={public_url!r} is not an http(s) address: set it to the address "
            "users open in their browser, e.g. https://econnect.example.com."
        )
    elif urlsplit(public_url).scheme.lower() != "https" and not is_loopback_host(
        urlsplit(public_url).hostname
    ):
        problems.append(
            f"ECONNECT_PUBLIC_URL={public_url!r} is not https, so session cookies, passwords and emailed "
            "links would cross the network unencrypted: serve the app over https (e.g. behind a proxy "
            "that terminates TLS) and set https://..., or use a loopback address "
            "(http://localhost:3000) for a local try-out."
        )
    api_rate_limit = environ.get("ECONNECT_API_RATE_LIMIT", "").strip()
    if api_rate_limit and not is_rate_limit(api_rate_limit):
        problems.append(
            f"ECONNECT_API_RATE_LIMIT={api_rate_limit!r} is not a rate limit: set it to calls per key set "
            "and period, e.g. 300/minute (or several: 300/minute; 5000/hour), or leave it unset."
        )
    return problems


def is_rate_limit(notation: str) -> bool:
    """Whether ``notation`` is a rate limit in the ``limits`` notation ("300/minute")."""
    from limits import parse_many  # here, not at import: see the docstring

    try:
        return bool(parse_many(notation))
    except ValueError:
        return False


def smtp_url_problems(smtp_url: str) -> list[str]:
    """What is wrong with ``ECONNECT_SMTP_URL`` for production: unreadable, or a login without TLS
    to another machine. The messages never contain the password."""
    from econnect_app.mail.smtp import SmtpSecurity, parse_smtp_url  # here, not at import: see the docstring

    try:
        config = parse_smtp_url(smtp_url)
    except ValueError as error:
        return [f"{str(error).rstrip('.')}. Set it to your mail server, e.g. {SMTP_URL_EXAMPLES}."]
    if config.username and config.security is SmtpSecurity.NONE and not is_loopback_host(config.host):
        return [
            f"ECONNECT_SMTP_URL would send the mail server's user name and password to {config.host} "
            "unencrypted: add ?starttls=1 (STARTTLS, port 587 unless given) or use smtps:// "
            "(TLS, port 465 unless given)."
        ]
    return []


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def public_origin(public_url: str) -> str | None:
    """The browser origin (``scheme://host[:port]``) of ``public_url``; None if it is not http(s).

    Browsers send the origin in lower case and without the scheme's default port, so it is
    normalised the same way to compare equal with the ``Origin`` header.
    """
    parts = urlsplit(public_url.strip())
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def serves_app(argv: Sequence[str]) -> bool:
    """Whether this process is (or starts) a server: anything but a Reflex command other than ``run``.

    ``reflex db migrate`` and ``reflex export`` import the app in production mode without serving
    it: they must keep working where no SMTP server or secret is configured (a build or CI job).
    """
    if not argv:
        return True
    program = PurePath(argv[0])
    run_as_module = program.name == "__main__.py" and program.parent.name == "reflex"  # python -m reflex
    if program.name != "reflex" and not run_as_module:
        return True
    command = next((arg for arg in argv[1:] if not arg.startswith("-")), None)
    return command == "run"


def check_production(environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None) -> None:
    """Refuse to start a production server with unsafe settings: SystemExit saying what to set."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    if not is_production(environ) or not serves_app(argv):
        return
    problems = production_problems(environ)
    if problems:
        raise SystemExit(refusal_message(problems))


def refusal_message(problems: Sequence[str]) -> str:
    """The text shown when production mode refuses to start."""
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return f"eConnect refuses to start in production mode (REFLEX_ENV_MODE=prod):\n{lines}"


def reflex_origin_options(settings: Settings) -> dict[str, object]:
    """rx.Config options: the public URL is the only browser origin allowed, in every mode.

    Reflex uses ``cors_allowed_origins`` for both the HTTP CORS middleware and the Socket.IO
    server (the websocket); the frontend build connects to ``api_url``. In production the backend
    serves the frontend at the public URL. In development the frontend (Vite) runs on its own
    port and talks to the backend on localhost:8000, so the public URL (by default
    http://localhost:3000) is that of the frontend; when it is a loopback address, the other
    names of the same machine (localhost, 127.0.0.1, [::1]) with the same port are allowed too.
    """
    origin = public_origin(settings.public_url)
    if settings.dev_mode:
        return {"cors_allowed_origins": loopback_aliases(origin or DEFAULT_PUBLIC_URL)}
    if origin is None:  # check_production refuses to serve; building and migrating need no origin
        return {}
    return {"cors_allowed_origins": [origin], "api_url": origin, "deploy_url": settings.public_url}


def loopback_aliases(origin: str) -> list[str]:
    """``origin`` first, then, when it is on this machine, the same port under its other names."""
    parts = urlsplit(origin)
    if not is_loopback_host(parts.hostname):
        return [origin]
    port = f":{parts.port}" if parts.port is not None else ""
    aliases = [f"{parts.scheme}://{name}{port}" for name in ("localhost", "127.0.0.1", "[::1]")]
    return [origin, *(alias for alias in aliases if alias != origin)]


if __name__ == "__main__":  # `python -m econnect_app.production`: the check alone, as in production mode
    if found := production_problems(os.environ):
        raise SystemExit(refusal_message(found))
