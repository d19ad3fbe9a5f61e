""" "Sign in with Dropbox" / "Sign in with Octopus": the OAuth 2 authorization-code flow with PKCE.

``start`` makes a random ``state`` (256 bits) and PKCE code verifier, keeps them in an
``OAuthAuthorisation`` row (the state as its SHA-256 hash, the verifier encrypted; for this user
only, for 10 minutes, single use) and returns the provider's authorization URL (built by Authlib,
``exports/cloud.py``) with the S256 code challenge and ``redirect_uri`` = the app's
``/configurations/oauth/<provider>`` page.

``finish`` runs on that page: the state must be this user's, for this provider, unused and
unexpired; it is used up first (a conditional UPDATE, so a reload or a replayed URL does nothing).
A refused consent (``error=access_denied``) ends there and saves nothing. Otherwise the code is
exchanged for tokens (with the verifier), which are stored encrypted with their expiry: in a new
configuration that is finished on ``/configurations`` (dossier, terms of service), or in the
configuration that was being modified ("Sign in again").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from econnect_app import crypto, i18n, routes, security
from econnect_app.exports import cloud, credentials
from econnect_app.exports.targets import DeliveryError
from econnect_app.formatting import display_name
from econnect_app.models import AccountingConfiguration, OAuthAuthorisation, User, utcnow
from econnect_app.services import activity
from econnect_app.services.configurations import (
    CONFIGURATION_NOT_FOUND,
    NAME_MAX_LENGTH,
    OAUTH_TARGETS,
    SUBJECT,
    get_configuration,
    require_manager,
    target_label,
)
from econnect_app.services.errors import DomainError, InvalidToken, NotFound
from econnect_app.services.transaction import committing

SIGN_IN_LIFETIME = timedelta(minutes=10)
VERIFIER_PURPOSE = "oauth code verifier"
UNKNOWN_PROVIDER = i18n.N_("Choose Dropbox or Octopus.")


@dataclass(frozen=True)
class SignedIn:
    """The outcome of a finished sign-in."""

    configuration_id: int
    target: str
    new: bool  # a new configuration, still to be finished on /configurations
    account_name: str


def redirect_uri(target: str) -> str:
    """Where the provider sends the browser back (registered with the provider as the app's
    redirect URI): ``<ECONNECT_PUBLIC_URL>/configurations/oauth/<provider>``."""
    return routes.absolute(routes.oauth_callback(target))


def _state_problem(target: str) -> str:
    return i18n.gettext(
        "This sign-in with {provider} cannot be completed: it was already used, it is older than "
        "10 minutes, or it was not started by you in this app. Nothing was saved. Start again with Sign in with "
        "{provider}.",
        provider=target_label(target),
    )


def start(session: Session, *, actor: User, target: str, configuration_id: int | str | None = None) -> str:
    """Begin a sign-in; returns the provider's authorization URL to send the browser to.

    ``configuration_id``: sign in again for that configuration (its tokens are replaced)."""
    actor = require_manager(session, actor)
    if target not in OAUTH_TARGETS:
        raise DomainError(i18n.gettext(UNKNOWN_PROVIDER))
    if cloud.provider_for(target) is None:
        raise DomainError(cloud.not_configured_message(target))
    existing_id = None
    if configuration_id not in (None, ""):
        configuration = get_configuration(
            session, environment_id=actor.environment_id, configuration_id=configuration_id
        )
        if configuration.archived_at is not None or configuration.target != target:
            raise NotFound(i18n.gettext(CONFIGURATION_NOT_FOUND))
        existing_id = configuration.id
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters (RFC 7636: 43 to 128)
    url = cloud.authorization_url(
        target, redirect_uri=redirect_uri(target), state=state, code_verifier=verifier
    )
    with committing(session):
        now = utcnow()
        session.add(
            OAuthAuthorisation(
                state_hash=security.hash_token(state),
                code_verifier_encrypted=crypto.encrypt_text(verifier, purpose=VERIFIER_PURPOSE),
                target=target,
                environment_id=actor.environment_id,
                user_id=actor.id,  # type: ignore[arg-type]
                configuration_id=existing_id,
                created_at=now,
                expires_at=now + SIGN_IN_LIFETIME,
            )
        )
    return url


def _claim(session: Session, *, actor: User, target: str, state: str) -> OAuthAuthorisation:
    """The user's pending sign-in for ``state``, used up now (InvalidToken when there is none)."""
    if not isinstance(state, str) or not state or len(state) > 200:
        raise InvalidToken(_state_problem(target))
    with committing(session):
        row = session.exec(
            select(OAuthAuthorisation).where(OAuthAuthorisation.state_hash == security.hash_token(state))
        ).first()
        if (
            row is None
            or row.target != target
            or row.user_id != actor.id
            or row.environment_id != actor.environment_id
        ):
            raise InvalidToken(_state_problem(target))
        now = utcnow()
        claimed = session.execute(
            update(OAuthAuthorisation)
            .where(
                col(OAuthAuthorisation.id) == row.id,
                col(OAuthAuthorisation.used_at).is_(None),
                col(OAuthAuthorisation.expires_at) > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            raise InvalidToken(_state_problem(target))
    return row


def finish(
    session: Session,
    *,
    actor: User,
    target: str,
    code: str = "",
    state: str = "",
    error: str = "",
    error_description: str = "",
) -> SignedIn:
    """Complete a sign-in from the provider's redirect (``code`` and ``state``, or ``error``)."""
    actor = require_manager(session, actor)
    if target not in OAUTH_TARGETS:
        raise DomainError(i18n.gettext(UNKNOWN_PROVIDER))
    name = target_label(target)
    if error:
        try:
            _claim(session, actor=actor, target=target, state=state)
        except InvalidToken:
            pass  # refused either way: nothing to use up
        if error == "access_denied":
            raise DomainError(
                i18n.gettext(
                    "You did not allow eConnect to access your {provider} account, so nothing was saved. To connect "
                    "{provider}, start again with Sign in with {provider} and choose Allow.",
                    provider=name,
                )
            )
        if error_description:
            raise DomainError(
                i18n.gettext(
                    "{provider} could not sign you in ({error}: {description}). Nothing was saved.",
                    provider=name,
                    error=error[:100],
                    description=error_description[:200],
                )
            )
        raise DomainError(
            i18n.gettext(
                "{provider} could not sign you in ({error}). Nothing was saved.",
                provider=name,
                error=error[:100],
            )
        )
    row = _claim(session, actor=actor, target=target, state=state)
    if not isinstance(code, str) or not code or len(code) > 2000:
        raise InvalidToken(_state_problem(target))
    verifier = crypto.decrypt_text(row.code_verifier_encrypted, purpose=VERIFIER_PURPOSE)
    try:
        tokens = cloud.exchange_code(
            target, redirect_uri=redirect_uri(target), code=code, code_verifier=verifier
        )
    except DeliveryError as problem:
        raise DomainError(i18n.gettext("{problem} Nothing was saved.", problem=problem.message)) from None
    with committing(session):
        actor = require_manager(session, actor)
        sealed = credentials.seal(tokens.values)
        names = {"actor": display_name(actor), "provider": name, "account": tokens.account_name}
        if row.configuration_id is not None:
            configuration = get_configuration(
                session, environment_id=actor.environment_id, configuration_id=row.configuration_id
            )
            if configuration.archived_at is not None:
                raise NotFound(i18n.gettext("This configuration was archived meanwhile. Nothing was saved."))
            configuration.credentials_encrypted = sealed
            configuration.token_expires_at = tokens.expires_at
            configuration.account_name = tokens.account_name or configuration.account_name
            configuration.updated_at = utcnow()
            new = False
            summary = (
                i18n.gettext(
                    "{actor} signed in with {provider} again as {account} for \u201c{name}\u201d.",
                    name=configuration.name,
                    **names,
                )
                if tokens.account_name
                else i18n.gettext(
                    "{actor} signed in with {provider} again for \u201c{name}\u201d.",
                    name=configuration.name,
                    **names,
                )
            )
        else:
            now = utcnow()
            configuration = AccountingConfiguration(
                environment_id=actor.environment_id,
                name=f"{name} {tokens.account_name}".strip()[:NAME_MAX_LENGTH],
                target=target,
                account_name=tokens.account_name,
                credentials_encrypted=sealed,
                token_expires_at=tokens.expires_at,
                created_by_id=actor.id,
                created_at=now,
                updated_at=now,
            )
            new = True
            summary = (
                i18n.gettext(
                    "{actor} signed in with {provider} as {account} for a new configuration (not finished yet).",
                    **names,
                )
                if tokens.account_name
                else i18n.gettext(
                    "{actor} signed in with {provider} for a new configuration (not finished yet).", **names
                )
            )
        session.add(configuration)
        session.flush()
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="configurations.signed_in",
            summary=summary,
            subject_type=SUBJECT,
            subject_id=configuration.id,
        )
    return SignedIn(
        configuration_id=configuration.id,  # type: ignore[arg-type]
        target=target,
        new=new,
        account_name=tokens.account_name,
    )
