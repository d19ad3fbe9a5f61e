"""Everything the app reads from the environment, in one typed object.

This module imports nothing from the rest of the app (rxconfig.py imports it).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PUBLIC_URL = "http://localhost:3000"


def _data_dir() -> Path:
    path = Path(os.environ.get("ECONNECT_DATA_DIR", PROJECT_ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dev_secret_key(data_dir: Path) -> str:
    """Read the development secret key, generating it once into the data folder."""
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


@dataclass(frozen=True)
class OAuthProvider:
    """One OAuth 2 provider (Dropbox, Octopus): client credentials, endpoints and its API base."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_url: str


_OAUTH_DEFAULTS = {
    "DROPBOX": (
        "https://www.dropbox.com/oauth2/authorize",
        "https://api.dropboxapi.com/oauth2/token",
        "https://content.dropboxapi.com/2",
    ),
    "OCTOPUS": (
        "https://service.inaras.be/octopus-rest-api/oauth/authorize",
        "https://service.inaras.be/octopus-rest-api/oauth/token",
        "https://service.inaras.be/octopus-rest-api/v1",
    ),
}


def _oauth_provider(name: str) -> OAuthProvider | None:
    """``ECONNECT_<NAME>_CLIENT_ID`` / ``_CLIENT_SECRET`` / ``_AUTHORIZE_URL`` / ``_TOKEN_URL`` /
    ``_API_URL``; None (not configured) without a client id."""
    client_id = os.environ.get(f"ECONNECT_{name}_CLIENT_ID", "").strip()
    if not client_id:
        return None
    authorize_url, token_url, api_url = _OAUTH_DEFAULTS[name]
    return OAuthProvider(
        client_id=client_id,
        client_secret=os.environ.get(f"ECONNECT_{name}_CLIENT_SECRET", ""),
        authorize_url=os.environ.get(f"ECONNECT_{name}_AUTHORIZE_URL") or authorize_url,
        token_url=os.environ.get(f"ECONNECT_{name}_TOKEN_URL") or token_url,
        api_url=(os.environ.get(f"ECONNECT_{name}_API_URL") or api_url).rstrip("/"),
    )


@dataclass(frozen=True)
class Settings:
    """Typed application settings."""

    data_dir: Path
    db_url: str
    redis_url: str | None
    smtp_url: str | None
    public_url: str
    secret_key: str
    mail_from: str = "eConnect <no-reply@econnect.local>"
    session_idle_minutes: int = 120
    session_absolute_hours: int = 24 * 7
    password_reset_minutes: int = 30
    invitation_days: int = 7
    email_confirmation_days: int = 3
    login_max_failures: int = 10
    login_failure_window_minutes: int = 15
    login_client_max_failures: int = 30
    login_known_client_days: int = 30
    # Proxies in front of the backend whose X-Forwarded-For is believed (0: the peer address counts).
    trusted_proxy_hops: int = 0
    # Multiplies every count in services/throttle.py (the e2e suite signs up many users from one address).
    rate_limit_scale: int = 1
    mail_retry_limit: int = 8
    authorisation_link_days: int = 14
    resend_min_interval_minutes: int = 10
    resend_max_per_day: int = 5
    # After `Rotate`, the previous key Secret keeps working this long (`Revoke now` ends it sooner).
    key_rotation_grace_hours: int = 24
    # Calls to /api/v1 per key set, in the `limits` notation (e.g. "300/minute"; "300/minute; 5000/hour").
    api_rate_limit: str = "300/minute"
    # Where uploaded documents are stored (ECONNECT_DOCUMENT_DIR; default: <data folder>/documents).
    document_dir: Path | None = None
    max_document_bytes: int = 10 * 1024 * 1024
    # OAuth 2 providers of the accounting package configurations (issue 9); a provider without a
    # client id is "not configured". Endpoints default to the real services'.
    dropbox: OAuthProvider | None = None
    octopus: OAuthProvider | None = None
    dev_mode: bool = field(default=True)

    @property
    def documents_path(self) -> Path:
        """The folder holding uploaded documents."""
        return self.document_dir or self.data_dir / "documents"

    @property
    def mail_enabled(self) -> bool:
        """Whether a real SMTP server is configured."""
        return bool(self.smtp_url)


def load_settings() -> Settings:
    """Build settings from the process environment."""
    data_dir = _data_dir()
    db_url = os.environ.get("REFLEX_DB_URL") or f"sqlite:///{data_dir / 'econnect.db'}"
    secret_key = os.environ.get("ECONNECT_SECRET_KEY") or _dev_secret_key(data_dir)
    env_mode = os.environ.get("REFLEX_ENV_MODE", "dev").lower()
    return Settings(
        data_dir=data_dir,
        db_url=db_url,
        redis_url=os.environ.get("REFLEX_REDIS_URL") or None,
        smtp_url=os.environ.get("ECONNECT_SMTP_URL") or None,
        public_url=(os.environ.get("ECONNECT_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
        secret_key=secret_key,
        mail_from=os.environ.get("ECONNECT_MAIL_FROM") or Settings.mail_from,
        authorisation_link_days=int(
            os.environ.get("ECONNECT_AUTHORISATION_LINK_DAYS") or Settings.authorisation_link_days
        ),
        trusted_proxy_hops=max(0, int(os.environ.get("ECONNECT_TRUSTED_PROXY_HOPS") or 0)),
        rate_limit_scale=max(1, int(os.environ.get("ECONNECT_RATE_LIMIT_SCALE") or 1)),
        key_rotation_grace_hours=max(
            0, int(os.environ.get("ECONNECT_KEY_ROTATION_GRACE_HOURS") or Settings.key_rotation_grace_hours)
        ),
        api_rate_limit=os.environ.get("ECONNECT_API_RATE_LIMIT", "").strip() or Settings.api_rate_limit,
        document_dir=Path(os.environ["ECONNECT_DOCUMENT_DIR"]) if os.environ.get("ECONNECT_DOCUMENT_DIR") else None,
        dropbox=_oauth_provider("DROPBOX"),
        octopus=_oauth_provider("OCTOPUS"),
        dev_mode=env_mode != "prod",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (read once)."""
    return load_settings()
