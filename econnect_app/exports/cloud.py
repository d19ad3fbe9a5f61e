"""Dropbox and Octopus targets: the OAuth 2 sign-in (Authlib) and the uploads.

Sign-in is the authorization-code flow with PKCE (S256) and ``state`` (``services/oauth_sign_in.py``
keeps the pending sign-ins); this module builds the authorization URL, exchanges the code for
tokens, refreshes expired tokens and calls the providers' APIs with them. The endpoints, client id
and secret come from the settings (``ECONNECT_DROPBOX_*``, ``ECONNECT_OCTOPUS_*``).

The APIs used (the contracts our test stand-in, ``tests/support/oauth_provider.py``, implements;
the real services cannot be reached from where this was built):

- Dropbox-style: ``POST {api_url}/files/upload`` with the bytes as body, a bearer token and the
  header ``Dropbox-API-Arg: {"path": "/invoices/<file>", "mode": "add", "autorename": true}``;
  the answer's ``path_display`` is where the file landed.
- Octopus-style: ``GET {api_url}/dossiers`` (a JSON list of ``{"id", "name"}``) and
  ``POST {api_url}/dossiers/{dossier_id}/documents`` (multipart: ``file`` and ``kind``).

Tokens are stored encrypted (``exports/credentials.py``) with their expiry; a token that expires
within a minute, or that the API answers 401 to, is refreshed once with the refresh token and the
new tokens are stored (a conditional UPDATE, committed at once: two workers refreshing at the same
moment keep one result). Everything here blocks on the network: call it in a worker thread.
"""

from __future__ import annotations

import json
import mimetypes
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from authlib.integrations.base_client import OAuthError
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from econnect_app import crypto
from econnect_app.exports import credentials
from econnect_app.exports.targets import TARGET_LABELS, UNREADABLE_CREDENTIALS, DeliveryError
from econnect_app.models import AccountingConfiguration, ConfigurationTarget, utcnow
from econnect_app.settings import OAuthProvider, get_settings

with warnings.catch_warnings():
    # Authlib 1.9 prefers the "httpx2" package and warns when it falls back to httpx (pinned here).
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client

HTTP_TIMEOUT_SECONDS: float = 30
REFRESH_LEEWAY = timedelta(seconds=60)
MAX_DOSSIERS = 1000


@dataclass(frozen=True)
class Dossier:
    """An Octopus dossier (administration) the signed-in account may deliver to."""

    id: str
    name: str


@dataclass(frozen=True)
class Tokens:
    """What a token endpoint answered, as stored."""

    values: dict[str, str]  # access_token, refresh_token, token_type
    expires_at: datetime | None
    account_name: str


def label(target: str) -> str:
    """The name of a target as the app shows it (Dropbox, Octopus, SFTP)."""
    return TARGET_LABELS.get(target, target)


def provider_for(target: str) -> OAuthProvider | None:
    """The settings of a target's OAuth provider (None: not configured on this server)."""
    settings = get_settings()
    if target == ConfigurationTarget.DROPBOX.value:
        return settings.dropbox
    if target == ConfigurationTarget.OCTOPUS.value:
        return settings.octopus
    return None


def not_configured_message(target: str) -> str:
    """What the app says about a provider without settings."""
    return f"{label(target)} is not configured on this server."


def _provider(target: str) -> OAuthProvider:
    provider = provider_for(target)
    if provider is None:
        raise DeliveryError(not_configured_message(target), retryable=False)
    return provider


def _client(provider: OAuthProvider, *, redirect_uri: str | None = None) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret or None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT_SECONDS,
    )


# --- signing in ----------------------------------------------------------------------------------


def authorization_url(target: str, *, redirect_uri: str, state: str, code_verifier: str) -> str:
    """Where to send the browser for "Sign in with ...": the provider's consent page, asking for
    a code (with the S256 challenge of ``code_verifier``) to come back to ``redirect_uri``."""
    provider = _provider(target)
    extra: dict[str, str] = {}
    if target == ConfigurationTarget.DROPBOX.value:
        extra["token_access_type"] = "offline"  # Dropbox gives a refresh token only when asked
    with _client(provider, redirect_uri=redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.authorize_url, state=state, code_verifier=code_verifier, **extra
        )
    return str(url)


def exchange_code(target: str, *, redirect_uri: str, code: str, code_verifier: str) -> Tokens:
    """The tokens for an authorization code (the PKCE verifier proves this app asked for it)."""
    provider = _provider(target)
    try:
        with _client(provider, redirect_uri=redirect_uri) as client:
            token = client.fetch_token(
                provider.token_url, grant_type="authorization_code", code=code, code_verifier=code_verifier
            )
    except OAuthError as error:
        raise DeliveryError(
            f"{label(target)} did not accept the sign-in ({error.error}). Sign in with {label(target)} again.",
            retryable=False,
        ) from None
    except httpx.HTTPError as error:
        raise _unreachable(target, error) from None
    return _tokens(token, refresh_token="")


def _tokens(token: dict[str, Any], *, refresh_token: str) -> Tokens:
    access_token = str(token.get("access_token") or "")
    if not access_token:
        raise DeliveryError("The provider answered without an access token.", retryable=False)
    expires_at = token.get("expires_at")
    return Tokens(
        values={
            "access_token": access_token,
            "refresh_token": str(token.get("refresh_token") or refresh_token),
            "token_type": str(token.get("token_type") or "bearer"),
        },
        expires_at=datetime.fromtimestamp(int(expires_at), UTC) if expires_at else None,
        account_name=str(token.get("account_name") or token.get("account_id") or "")[:200],
    )


# --- tokens of a stored configuration ------------------------------------------------------------


def access_token(
    session: Session, configuration: AccountingConfiguration, *, force_refresh: bool = False
) -> str:
    """A usable access token: the stored one, or (expired, or ``force_refresh``) a refreshed one,
    stored encrypted and committed through ``session``."""
    try:
        values = credentials.unseal(configuration.credentials_encrypted)
    except crypto.UnreadableText:
        raise DeliveryError(UNREADABLE_CREDENTIALS, retryable=False) from None
    expires_at = configuration.token_expires_at
    if not force_refresh and values.get("access_token"):
        if expires_at is None or expires_at > utcnow() + REFRESH_LEEWAY:
            return str(values["access_token"])
    return _refresh(session, configuration, values)


def _refresh(session: Session, configuration: AccountingConfiguration, values: dict[str, Any]) -> str:
    target = configuration.target
    refresh_token = str(values.get("refresh_token") or "")
    if not refresh_token:
        raise _sign_in_again(target, "the sign-in expired")
    provider = _provider(target)
    try:
        with _client(provider) as client:
            token = client.refresh_token(provider.token_url, refresh_token=refresh_token)
    except OAuthError as error:
        raise _sign_in_again(target, f"{label(target)} refused to refresh it: {error.error}") from None
    except httpx.HTTPError as error:
        raise _unreachable(target, error) from None
    tokens = _tokens(token, refresh_token=refresh_token)
    return _store(session, configuration, previous=configuration.credentials_encrypted, tokens=tokens)


def _store(session: Session, configuration: AccountingConfiguration, *, previous: str, tokens: Tokens) -> str:
    """Store refreshed tokens unless another worker stored its own meanwhile (then use those).

    A bulk UPDATE: token bookkeeping is no change anyone made, so it records no activity."""
    sealed = credentials.seal(tokens.values)
    result = session.execute(
        update(AccountingConfiguration)
        .where(
            col(AccountingConfiguration.id) == configuration.id,
            col(AccountingConfiguration.credentials_encrypted) == previous,
        )
        .values(credentials_encrypted=sealed, token_expires_at=tokens.expires_at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        session.commit()
        set_committed_value(configuration, "credentials_encrypted", sealed)
        set_committed_value(configuration, "token_expires_at", tokens.expires_at)
        return tokens.values["access_token"]
    session.commit()
    stored = session.get(AccountingConfiguration, configuration.id, populate_existing=True)
    if stored is None:
        raise DeliveryError("This configuration no longer exists.", retryable=False)
    set_committed_value(configuration, "credentials_encrypted", stored.credentials_encrypted)
    set_committed_value(configuration, "token_expires_at", stored.token_expires_at)
    return str(credentials.unseal(stored.credentials_encrypted).get("access_token") or "")


def _sign_in_again(target: str, why: str) -> DeliveryError:
    name = label(target)
    return DeliveryError(
        f"{name} no longer accepts this configuration's sign-in ({why}). Modify the configuration and sign in "
        f"with {name} again.",
        retryable=False,
    )


def _unreachable(target: str, error: Exception) -> DeliveryError:
    if isinstance(error, httpx.HTTPStatusError):
        return DeliveryError(
            f"{label(target)} is unavailable (it answered {error.response.status_code}). Trying again later.",
            retryable=True,
        )
    if isinstance(error, httpx.TimeoutException):
        return DeliveryError(f"{label(target)} did not answer in time. Trying again later.", retryable=True)
    return DeliveryError(f"{label(target)} cannot be reached ({type(error).__name__}).", retryable=True)


# --- calling the APIs ----------------------------------------------------------------------------


def _call(
    session: Session,
    configuration: AccountingConfiguration,
    send: Callable[[httpx.Client, str], httpx.Response],
) -> httpx.Response:
    """``send(client, access_token)``, once more with a refreshed token after a 401; HTTP errors
    become DeliveryErrors (5xx, 429 and network trouble retryable)."""
    target = configuration.target
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as client:
            response = send(client, access_token(session, configuration))
            if response.status_code == 401:
                response = send(client, access_token(session, configuration, force_refresh=True))
    except httpx.HTTPError as error:
        raise _unreachable(target, error) from None
    if response.status_code == 401:
        raise _sign_in_again(target, "the access token was refused")
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryError(
            f"{label(target)} is unavailable (it answered {response.status_code}). Trying again later.",
            retryable=True,
        )
    if response.status_code >= 400:
        raise DeliveryError(
            f"{label(target)} refused the request ({response.status_code}: {_reason(response)}).",
            retryable=False,
        )
    return response


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error_summary", "error_description", "error", "message"):
            if isinstance(body.get(key), str):
                return body[key][:200]
    return response.reason_phrase


def _json(response: httpx.Response, target: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise DeliveryError(
            f"{label(target)} answered with something other than JSON.", retryable=True
        ) from None


def upload_to_dropbox(
    session: Session, configuration: AccountingConfiguration, *, folder: str, filename: str, data: bytes
) -> str:
    """Upload to the Dropbox-style API; returns the path the file landed at (without the leading /)."""
    provider = _provider(configuration.target)
    argument = json.dumps({"path": f"/{folder}/{filename}", "mode": "add", "autorename": True, "mute": True})

    def send(client: httpx.Client, token: str) -> httpx.Response:
        return client.post(
            f"{provider.api_url}/files/upload",
            content=data,
            headers={
                "Authorization": f"Bearer {token}",
                "Dropbox-API-Arg": argument,
                "Content-Type": "application/octet-stream",
            },
        )

    body = _json(_call(session, configuration, send), configuration.target)
    landed = body.get("path_display") if isinstance(body, dict) else None
    return str(landed).lstrip("/") if isinstance(landed, str) and landed else f"{folder}/{filename}"


def list_dossiers(session: Session, configuration: AccountingConfiguration) -> list[Dossier]:
    """The Octopus dossiers the configuration's account may deliver to, by name."""
    provider = _provider(configuration.target)

    def send(client: httpx.Client, token: str) -> httpx.Response:
        return client.get(f"{provider.api_url}/dossiers", headers={"Authorization": f"Bearer {token}"})

    body = _json(_call(session, configuration, send), configuration.target)
    if isinstance(body, dict):  # {"dossiers": [...]} is accepted too
        body = body.get("dossiers")
    if not isinstance(body, list):
        raise DeliveryError("Octopus answered the dossier list in an unknown form.", retryable=True)
    dossiers = [
        Dossier(id=str(item["id"])[:100], name=str(item.get("name") or item["id"])[:200])
        for item in body[:MAX_DOSSIERS]
        if isinstance(item, dict) and item.get("id") not in (None, "")
    ]
    return sorted(dossiers, key=lambda dossier: (dossier.name.casefold(), dossier.id))


def upload_to_octopus(
    session: Session,
    configuration: AccountingConfiguration,
    *,
    folder: str,
    kind: str,
    filename: str,
    data: bytes,
) -> str:
    """Upload to the configuration's Octopus dossier; returns ``<folder>/<filename>``."""
    provider = _provider(configuration.target)
    if not configuration.dossier_id:
        raise DeliveryError(
            "Choose the Octopus dossier of this configuration first (Modify).", retryable=False
        )
    url = f"{provider.api_url}/dossiers/{quote(configuration.dossier_id, safe='')}/documents"
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"

    def send(client: httpx.Client, token: str) -> httpx.Response:
        return client.post(
            url,
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (filename, data, content_type)},
            data={"kind": kind},
        )

    _call(session, configuration, send)
    return f"{folder}/{filename}"
