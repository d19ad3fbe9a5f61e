"""Connection keys: an environment's named key sets (App key and Secret) for the HTTP API.

An environment may hold several key sets (for example one per software installation), each with
a name unique among the environment's current sets. The Secret is returned once, when it is made,
and only its SHA-256 hash is stored. ``Rotate`` gives a set a new Secret and keeps the previous
one valid for a grace period (``key_rotation_grace_hours``, 24 by default), so the software using
it can be updated without an outage; ``revoke_previous_secret`` ends that grace at once, and
``revoke_key_set`` stops a whole set at once (it is kept, as history, and works no more).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, security
from econnect_app.formatting import display_name, format_datetime
from econnect_app.models import Environment, KeySet, Organisation, Role, SoftwarePackage, User, utcnow
from econnect_app.services import access, activity, effects
from econnect_app.services.errors import Conflict, NotFound, ValidationFailed
from econnect_app.services.paging import ListQuery, Page, contains_text, page_of, search_text
from econnect_app.services.permissions import load_actor, require_role
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldError, clean_required, parse_id
from econnect_app.settings import get_settings

APP_KEY_PREFIX = "ak_"
SECRET_PREFIX = "sk_"
DEFAULT_KEY_SET_NAME = "Default"
KEY_SET_NAME_MAX_LENGTH = 100
KEY_SET_SUBJECT = "key_set"
KEY_SET_GONE_MESSAGE = i18n.N_("This key set no longer exists: it was revoked. Reload the page.")
KEY_SET_CHANGED_MESSAGE = i18n.N_(
    "This key set was changed by someone else at the same moment. Reload the page and try again."
)
NO_PREVIOUS_SECRET_MESSAGE = i18n.N_("The previous Secret of this key set has already stopped working.")
# Compared against when an App key is unknown (or a set has no previous Secret in its grace
# period), so every answer takes the same work.
_UNKNOWN_KEY_HASH = security.hash_token(SECRET_PREFIX + secrets.token_urlsafe(32))
_NO_PREVIOUS_HASH = security.hash_token(SECRET_PREFIX + secrets.token_urlsafe(32))
# The columns the client organisations of the keys page may be sorted by (``client_keys_page``).
CLIENT_KEY_SORTS = {
    "organisation": func.lower(Organisation.name),
    "owner": func.lower(Environment.name),
    "software": func.lower(func.coalesce(SoftwarePackage.name, "")),
}
DEFAULT_CLIENT_KEY_SORT = "organisation"


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


def _quoted(name: str) -> str:
    """A key set's name as sentences quote it."""
    return f"\u201c{name}\u201d"


def _new_secret() -> tuple[str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, security.hash_token(secret)


def _current_key_sets(session: Session, environment_id: int) -> list[KeySet]:
    statement = (
        select(KeySet)
        .where(KeySet.environment_id == environment_id, col(KeySet.revoked_at).is_(None))
        .order_by(col(KeySet.created_at), col(KeySet.id))
    )
    return list(session.exec(statement))


def _require_keys_reader(session: Session, actor: User) -> User:
    return require_role(load_actor(session, actor), Role.ADVANCED_USER, Role.ADMINISTRATOR)


def _require_admin(session: Session, actor: User) -> User:
    return require_role(load_actor(session, actor), Role.ADMINISTRATOR)


def _current_key_set(session: Session, actor: User, key_set_id: int | str | None) -> KeySet:
    """The actor's environment's current key set ``key_set_id``; NotFound when it is revoked or
    belongs to another environment (the same answer for both)."""
    number = parse_id(key_set_id)
    key_set = session.get(KeySet, number) if number is not None else None
    if key_set is None or key_set.environment_id != actor.environment_id or key_set.revoked_at is not None:
        raise NotFound(i18n.gettext(KEY_SET_GONE_MESSAGE))
    return key_set


def _change(session: Session, key_set: KeySet, **values: Any) -> None:
    """Write ``values`` only if the set is still current and its Secret unchanged since it was
    read (two administrators rotating at once: one wins, the other is told); Conflict otherwise."""
    result = session.execute(
        update(KeySet)
        .where(
            col(KeySet.id) == key_set.id,
            col(KeySet.secret_hash) == key_set.secret_hash,
            col(KeySet.revoked_at).is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(i18n.gettext(KEY_SET_CHANGED_MESSAGE))
    effects.changed(session, key_set.environment_id)


def previous_secret_works(key_set: KeySet, now: datetime | None = None) -> bool:
    """Whether the Secret before the last rotation is still accepted (its grace period runs)."""
    until = key_set.previous_secret_valid_until
    return bool(key_set.previous_secret_hash) and until is not None and until > (now or utcnow())


def list_key_sets(session: Session, *, actor: User) -> list[KeySet]:
    """The environment's current key sets, oldest first (Advanced users and Administrators)."""
    actor = _require_keys_reader(session, actor)
    return _current_key_sets(session, actor.environment_id)


def _clean_name(session: Session, environment_id: int, name: str) -> str:
    try:
        cleaned = clean_required(
            name, label=i18n.N_("a name for the key set"), max_length=KEY_SET_NAME_MAX_LENGTH
        )
    except FieldError as error:
        raise ValidationFailed({"name": error.message}) from None
    if any(
        existing.name.casefold() == cleaned.casefold()
        for existing in _current_key_sets(session, environment_id)
    ):
        raise ValidationFailed({"name": _name_taken(cleaned)})
    return cleaned


def _name_taken(name: str) -> str:
    return i18n.gettext("A key set named {name} already exists. Choose another name.", name=_quoted(name))


def create_key_set(session: Session, *, actor: User, name: str = DEFAULT_KEY_SET_NAME) -> tuple[KeySet, str]:
    """Create a named key set (Administrators); names are unique among the current sets.

    Returns the key set and the raw Secret: the only time the Secret is available.
    """
    actor = _require_admin(session, actor)
    name = _clean_name(session, actor.environment_id, name)
    secret, secret_hash = _new_secret()
    key_set = KeySet(
        environment_id=actor.environment_id,
        name=name,
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
                summary=i18n.gettext(
                    "{actor} created the key set {name}.", actor=display_name(actor), name=_quoted(name)
                ),
                subject_type=KEY_SET_SUBJECT,
                subject_id=key_set.id,
            )
    except IntegrityError:
        # Another administrator created a set of that name at the same moment (unique index).
        raise ValidationFailed({"name": _name_taken(name)}) from None
    return key_set, secret


def rotate_secret(
    session: Session, *, actor: User, key_set_id: int | str | None, now: datetime | None = None
) -> tuple[KeySet, str]:
    """Give a key set a new Secret (Administrators). The Secret it replaces keeps working for the
    grace period (``key_rotation_grace_hours``; none when 0); a Secret still in an earlier grace
    period stops working now.

    Returns the key set and the new raw Secret, available only now.
    """
    actor = _require_admin(session, actor)
    key_set = _current_key_set(session, actor, key_set_id)
    now = now or utcnow()
    grace = timedelta(hours=get_settings().key_rotation_grace_hours)
    secret, secret_hash = _new_secret()
    valid_until = now + grace if grace else None
    with committing(session):
        _change(
            session,
            key_set,
            secret_hash=secret_hash,
            previous_secret_hash=key_set.secret_hash if grace else None,
            previous_secret_valid_until=valid_until,
            rotated_at=now,
        )
        names = {"actor": display_name(actor), "name": _quoted(key_set.name)}
        summary = (
            i18n.gettext(
                "{actor} rotated the Secret of the key set {name}; the previous Secret works until {until}.",
                until=format_datetime(valid_until),
                **names,
            )
            if valid_until
            else i18n.gettext("{actor} rotated the Secret of the key set {name}.", **names)
        )
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="keys.rotated",
            summary=summary,
            subject_type=KEY_SET_SUBJECT,
            subject_id=key_set.id,
        )
    session.refresh(key_set)
    return key_set, secret


def revoke_previous_secret(session: Session, *, actor: User, key_set_id: int | str | None) -> KeySet:
    """End the grace period of a key set's previous Secret now (Administrators)."""
    actor = _require_admin(session, actor)
    key_set = _current_key_set(session, actor, key_set_id)
    if not previous_secret_works(key_set):
        raise Conflict(i18n.gettext(NO_PREVIOUS_SECRET_MESSAGE))
    with committing(session):
        _change(session, key_set, previous_secret_hash=None, previous_secret_valid_until=None)
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="keys.previous_secret_revoked",
            summary=i18n.gettext(
                "{actor} revoked the previous Secret of the key set {name}.",
                actor=display_name(actor),
                name=_quoted(key_set.name),
            ),
            subject_type=KEY_SET_SUBJECT,
            subject_id=key_set.id,
        )
    session.refresh(key_set)
    return key_set


def revoke_key_set(session: Session, *, actor: User, key_set_id: int | str | None) -> KeySet:
    """Stop a whole key set now, both Secrets (Administrators). The row is kept as history; its
    name is free for a new set."""
    actor = _require_admin(session, actor)
    key_set = _current_key_set(session, actor, key_set_id)
    with committing(session):
        _change(session, key_set, revoked_at=utcnow(), revoked_by_id=actor.id)
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="keys.revoked",
            summary=i18n.gettext(
                "{actor} revoked the key set {name}.", actor=display_name(actor), name=_quoted(key_set.name)
            ),
            subject_type=KEY_SET_SUBJECT,
            subject_id=key_set.id,
        )
    session.refresh(key_set)
    return key_set


def authenticate_key(
    session: Session, *, app_key: str, secret: str, now: datetime | None = None
) -> KeySet | None:
    """The current key set whose App key and Secret (or previous Secret, during its grace period)
    these are, or None.

    The Secret's hash is compared in constant time with both, and an unknown App key, a revoked
    set or a set without a previous Secret costs the same work.
    """
    # No key holds a NUL character, and PostgreSQL refuses one in a query: such a key is unknown.
    known_form = bool(app_key) and "\x00" not in app_key
    key_set = (
        session.exec(
            select(KeySet).where(KeySet.app_key == app_key, col(KeySet.revoked_at).is_(None))
        ).first()
        if known_form
        else None
    )
    presented = security.hash_token(secret).encode()
    current = key_set.secret_hash if key_set is not None else _UNKNOWN_KEY_HASH
    previous = (
        key_set.previous_secret_hash
        if key_set is not None and key_set.previous_secret_hash and previous_secret_works(key_set, now)
        else _NO_PREVIOUS_HASH
    )
    matches_current = hmac.compare_digest(presented, current.encode())
    matches_previous = hmac.compare_digest(presented, previous.encode())
    return key_set if key_set is not None and (matches_current | matches_previous) else None


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


# --- the keys page's organisations, server-paged -------------------------------------------------


def _key_row(
    organisation: Organisation, environment_name: str, package: SoftwarePackage | None, *, is_own: bool
) -> ClientKeyRow:
    return ClientKeyRow(
        organisation_id=organisation.id or 0,
        organisation_name=organisation.name,
        organisation_identifier=organisation.identifier,
        environment_name=environment_name,
        software_name=package.name if package else None,
        instructions=package.instructions if package else "",
        is_own=is_own,
    )


def _reached_client_organisations(session: Session, actor: User) -> ColumnElement[bool]:
    """Which partner organisations' connection details the actor may see, as one condition for the
    database: the client organisations ``access`` says the actor reaches (activated, through an
    active partnership, as an Advanced user or Administrator), which is ``user_can_see_keys``."""
    condition = access.client_organisations_condition(session, user=actor)
    return false() if condition is None else condition


def client_keys_page(session: Session, *, actor: User, query: ListQuery) -> Page[ClientKeyRow]:
    """One page of the client organisations whose connection details the actor may see (Advanced
    users and Administrators), sorted by ``CLIENT_KEY_SORTS`` (by name unless asked otherwise) and
    searched by organisation name, owner or Organisation identifier."""
    actor = _require_keys_reader(session, actor)
    statement = (
        select(Organisation, Environment.name, SoftwarePackage)
        .join(Environment, col(Environment.id) == col(Organisation.environment_id))
        .outerjoin(SoftwarePackage, col(SoftwarePackage.id) == col(Organisation.software_package_id))
        .where(_reached_client_organisations(session, actor))
    )
    if search := search_text(query.search):
        statement = statement.where(
            contains_text(search, Organisation.name, Environment.name, Organisation.identifier)
        )
    page = page_of(
        session,
        statement,
        query=query,
        sort_columns=CLIENT_KEY_SORTS,
        default_sort=DEFAULT_CLIENT_KEY_SORT,
        tiebreaker=col(Organisation.id),
    )
    return page.map(lambda row: _key_row(row[0], row[1], row[2], is_own=False))


def own_organisation_keys(session: Session, *, actor: User) -> list[ClientKeyRow]:
    """The actor's environment's own activated organisations, by name, with their connection
    details (Advanced users and Administrators)."""
    actor = _require_keys_reader(session, actor)
    statement = (
        select(Organisation, Environment.name, SoftwarePackage)
        .join(Environment, col(Environment.id) == col(Organisation.environment_id))
        .outerjoin(SoftwarePackage, col(SoftwarePackage.id) == col(Organisation.software_package_id))
        .where(Organisation.environment_id == actor.environment_id, col(Organisation.activated_at).is_not(None))
        .order_by(func.lower(Organisation.name), col(Organisation.id))
    )
    return [_key_row(organisation, name, package, is_own=True) for organisation, name, package in session.exec(statement)]
