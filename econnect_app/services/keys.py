"""Connection keys: an environment's App key and Secret for the HTTP API.

The Secret is returned once, when it is made, and only its SHA-256 hash is stored. Rotating it
replaces the hash, so the old Secret stops working at once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from econnect_app import security
from econnect_app.models import Environment, KeySet, Role, SoftwarePackage, User, utcnow
from econnect_app.services import access, activity
from econnect_app.services.errors import Conflict, NotFound
from econnect_app.services.permissions import load_actor, require_role
from econnect_app.services.transaction import committing

APP_KEY_PREFIX = "ak_"
SECRET_PREFIX = "sk_"
KEY_SET_EXISTS_MESSAGE = "Your environment already has a key set. Rotate its secret instead."
NO_KEY_SET_MESSAGE = "Your environment has no key set yet. Create one first."
# Compared against when an App key is unknown, so both answers take the same work.
_UNKNOWN_KEY_HASH = security.hash_token(SECRET_PREFIX + secrets.token_urlsafe(32))


@dataclass(frozen=True)
class ClientKeyRow:
    """What the keys page shows for one organisation (nothing secret)."""

    organisation_id: int
    organisation_name: str
    organisation_identifier: str
    environment_name: str  # the environment that owns the organisation
    software_name: str | None
    instructions: str
    is_own: bool


def _new_secret() -> tuple[str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, security.hash_token(secret)


def _key_set_of(session: Session, environment_id: int) -> KeySet | None:
    return session.exec(select(KeySet).where(KeySet.environment_id == environment_id)).first()


def _require_keys_reader(session: Session, actor: User) -> User:
    return require_role(load_actor(session, actor), Role.ADVANCED_USER, Role.ADMINISTRATOR)


def _require_admin(session: Session, actor: User) -> User:
    return require_role(load_actor(session, actor), Role.ADMINISTRATOR)


def get_key_set(session: Session, *, actor: User) -> KeySet | None:
    """The actor's environment's key set, if any (Advanced users and Administrators)."""
    actor = _require_keys_reader(session, actor)
    return _key_set_of(session, actor.environment_id)


def create_key_set(session: Session, *, actor: User) -> tuple[KeySet, str]:
    """Create the environment's key set (Administrators; one per environment).

    Returns the key set and the raw Secret: the only time the Secret is available.
    """
    actor = _require_admin(session, actor)
    if _key_set_of(session, actor.environment_id) is not None:
        raise Conflict(KEY_SET_EXISTS_MESSAGE)
    secret, secret_hash = _new_secret()
    key_set = KeySet(
        environment_id=actor.environment_id,
        app_key=APP_KEY_PREFIX + security.new_public_identifier(),
        secret_hash=secret_hash,
        created_by_id=actor.id,
    )
    try:
        with committing(session):
            session.add(key_set)
            session.flush()
            activity.record(
                session,
                environment_id=actor.environment_id,
                actor=actor,
                action="keys.created",
                summary=f"{actor.name or actor.email} created the connection keys.",
                subject_type="key_set",
                subject_id=key_set.id,
            )
    except IntegrityError:
        # Another administrator created one at the same moment (unique environment_id).
        raise Conflict(KEY_SET_EXISTS_MESSAGE) from None
    return key_set, secret


def rotate_secret(session: Session, *, actor: User) -> tuple[KeySet, str]:
    """Give the key set a new Secret (Administrators); the old one stops working at once.

    Returns the key set and the new raw Secret, available only now.
    """
    actor = _require_admin(session, actor)
    key_set = _key_set_of(session, actor.environment_id)
    if key_set is None:
        raise NotFound(NO_KEY_SET_MESSAGE)
    secret, secret_hash = _new_secret()
    with committing(session):
        key_set.secret_hash = secret_hash
        key_set.rotated_at = utcnow()
        session.add(key_set)
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="keys.rotated",
            summary=f"{actor.name or actor.email} rotated the connection keys' secret.",
            subject_type="key_set",
            subject_id=key_set.id,
        )
    return key_set, secret


def authenticate_key(session: Session, *, app_key: str, secret: str) -> KeySet | None:
    """The key set whose App key and Secret these are, or None.

    The Secret's hash is compared in constant time, and an unknown App key costs the same work.
    """
    # No key holds a NUL character, and PostgreSQL refuses one in a query: such a key is unknown.
    known_form = bool(app_key) and "\x00" not in app_key
    key_set = session.exec(select(KeySet).where(KeySet.app_key == app_key)).first() if known_form else None
    presented = security.hash_token(secret)
    expected = key_set.secret_hash if key_set is not None else _UNKNOWN_KEY_HASH
    matches = hmac.compare_digest(presented.encode(), expected.encode())
    return key_set if key_set is not None and matches else None


def list_client_keys(session: Session, *, actor: User) -> list[ClientKeyRow]:
    """The organisations whose connection details the actor may see (Advanced users and
    Administrators): client organisations reached through a partnership, and their own."""
    actor = _require_keys_reader(session, actor)
    rows: list[ClientKeyRow] = []
    environment_names: dict[int, str] = {}
    for organisation in access.accessible_organisations(session, user=actor):
        if not access.user_can_see_keys(session, user=actor, organisation=organisation):
            continue
        if organisation.environment_id not in environment_names:
            environment = session.get(Environment, organisation.environment_id)
            environment_names[organisation.environment_id] = environment.name if environment else ""
        package = (
            session.get(SoftwarePackage, organisation.software_package_id)
            if organisation.software_package_id is not None
            else None
        )
        rows.append(
            ClientKeyRow(
                organisation_id=organisation.id or 0,
                organisation_name=organisation.name,
                organisation_identifier=organisation.identifier,
                environment_name=environment_names[organisation.environment_id],
                software_name=package.name if package else None,
                instructions=package.instructions if package else "",
                is_own=organisation.environment_id == actor.environment_id,
            )
        )
    return rows
