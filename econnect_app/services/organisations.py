"""Organisations of an environment and the onboarding that adds the first ones."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, security
from econnect_app.models import (
    Environment,
    MembershipRole,
    Organisation,
    Plan,
    Role,
    User,
    utcnow,
)
from econnect_app.services import activity, memberships
from econnect_app.services.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)
from econnect_app.services.permissions import (
    can_manage_partnerships,
    load_actor,
    require_role,
)
from econnect_app.services.transaction import committing
from econnect_app.services.validation import (
    FieldErrors,
    clean_kvk_number,
    clean_optional,
    clean_required,
    clean_vat_number,
)

INVOICE_PORTAL_MAX_ORGANISATIONS = 2
# English, compared by callers and tests; shown translated (``i18n.gettext``) where raised.
DUPLICATE_KVK_MESSAGE = i18n.N_("This organisation is already in your environment.")
PLAN_LIMIT_MESSAGE = i18n.N_(
    "The Invoice Portal plan allows at most two organisations. "
    "Upgrade to Basic in Settings to add more."
)
ONBOARDING_INCOMPLETE_MESSAGE = i18n.N_("Add and activate at least one organisation to continue.")


def count_organisations(session: Session, *, environment_id: int) -> int:
    """How many organisations an environment owns."""
    statement = (
        select(func.count())
        .select_from(Organisation)
        .where(Organisation.environment_id == environment_id)
    )
    return int(session.exec(statement).one())


def organisation_limit(plan: str) -> int | None:
    """The most organisations a plan allows (None: no limit)."""
    return INVOICE_PORTAL_MAX_ORGANISATIONS if plan == Plan.INVOICE_PORTAL.value else None


def _kvk_taken(session: Session, *, environment_id: int, kvk_number: str) -> bool:
    statement = select(Organisation.id).where(
        Organisation.environment_id == environment_id, Organisation.kvk_number == kvk_number
    )
    return session.exec(statement).first() is not None


@dataclass(frozen=True)
class OrganisationInput:
    """Validated, normalised fields of a new organisation."""

    name: str
    kvk_number: str
    vat_number: str | None
    street: str
    postal_code: str
    city: str


def require_room_for_organisation(session: Session, *, environment: Environment) -> None:
    """PlanLimitReached when the environment's plan allows no further organisation.

    The early answer, before the form is validated; ``add_organisation_rows`` checks again, race-safe,
    in the transaction that adds the organisation.
    """
    limit = organisation_limit(environment.plan)
    if limit is not None and count_organisations(session, environment_id=environment.id) >= limit:
        raise PlanLimitReached(i18n.gettext(PLAN_LIMIT_MESSAGE))


def _locked_plan(session: Session, *, environment_id: int) -> str:
    """The environment's plan, its row locked until the transaction ends (``FOR NO KEY UPDATE`` on
    PostgreSQL): two additions, or an addition and a plan change, take their turns. Not ``FOR
    UPDATE``: that would wait for the key-share locks that rows referring to the environment take
    (accepting a request updates one first), and two acceptances would deadlock."""
    statement = (
        select(Environment.plan).where(Environment.id == environment_id).with_for_update(key_share=True)
    )
    return session.exec(statement).one()


def _require_within_plan(session: Session, *, environment_id: int, plan: str) -> None:
    """PlanLimitReached when the environment now holds more organisations than its plan allows.

    Counted after the insert, in its transaction: on PostgreSQL the locked environment row makes a
    simultaneous addition wait until this one has committed (and then count it); on SQLite the
    insert already holds the database's single write lock.
    """
    limit = organisation_limit(plan)
    if limit is not None and count_organisations(session, environment_id=environment_id) > limit:
        raise PlanLimitReached(i18n.gettext(PLAN_LIMIT_MESSAGE))


def clean_organisation_input(
    session: Session,
    *,
    environment_id: int,
    name: str,
    kvk_number: str,
    vat_number: str = "",
    street: str = "",
    postal_code: str = "",
    city: str = "",
) -> OrganisationInput:
    """The clean fields of a new organisation, or ValidationFailed keyed by field name."""
    fields = FieldErrors()
    clean_name = fields.check("name", clean_required, name, label=i18n.N_("the organisation name"))
    clean_kvk = fields.check("kvk_number", clean_kvk_number, kvk_number)
    clean_vat = fields.check("vat_number", clean_vat_number, vat_number)
    clean_street = fields.check("street", clean_optional, street, max_length=200)
    clean_postal_code = fields.check("postal_code", clean_optional, postal_code, max_length=16)
    clean_city = fields.check("city", clean_optional, city, max_length=100)
    if clean_kvk and _kvk_taken(session, environment_id=environment_id, kvk_number=clean_kvk):
        fields.add("kvk_number", i18n.gettext(DUPLICATE_KVK_MESSAGE))
    fields.raise_if_any()
    return OrganisationInput(
        name=clean_name,
        kvk_number=clean_kvk,
        vat_number=clean_vat,
        street=clean_street or "",
        postal_code=(clean_postal_code or "").upper(),
        city=clean_city or "",
    )


def add_organisation_rows(
    session: Session,
    *,
    actor: User,
    data: OrganisationInput,
    activated: bool = False,
    software_package_id: int | None = None,
) -> Organisation:
    """Add the organisation, the actor's Administrator membership and the activity row.

    Runs inside the caller's transaction (flushes, does not commit). PlanLimitReached when the
    plan allows no further organisation (checked race-safely: two simultaneous additions cannot
    both pass); the caller's transaction must then be rolled back.
    """
    plan = _locked_plan(session, environment_id=actor.environment_id)
    organisation = Organisation(
        environment_id=actor.environment_id,
        name=data.name,
        kvk_number=data.kvk_number,
        vat_number=data.vat_number,
        street=data.street,
        postal_code=data.postal_code,
        city=data.city,
        identifier=security.new_public_identifier(),
        receive_e_invoices=False,
        activated_at=utcnow() if activated else None,
        software_package_id=software_package_id,
        created_by_id=actor.id,
    )
    session.add(organisation)
    session.flush()
    _require_within_plan(session, environment_id=actor.environment_id, plan=plan)
    memberships.add_membership_row(
        session,
        organisation_id=organisation.id,  # type: ignore[arg-type]
        user_id=actor.id,  # type: ignore[arg-type]
        role=MembershipRole.ADMINISTRATOR.value,
        created_by_id=actor.id,
    )
    activity.record(
        session,
        environment_id=actor.environment_id,
        actor=actor,
        action="organisation.added",
        summary=i18n.gettext(
            "{actor} added organisation {organisation} (KvK {kvk_number}).",
            actor=actor.name or actor.email,
            organisation=organisation.name,
            kvk_number=organisation.kvk_number,
        ),
        subject_type="organisation",
        subject_id=organisation.id,
    )
    return organisation


def is_duplicate_kvk(session: Session, *, environment_id: int, kvk_number: str) -> bool:
    """Whether the environment already has an organisation with this KvK number."""
    return _kvk_taken(session, environment_id=environment_id, kvk_number=kvk_number)


def add_organisation(
    session: Session,
    *,
    actor: User,
    name: str,
    kvk_number: str,
    vat_number: str = "",
    street: str = "",
    postal_code: str = "",
    city: str = "",
) -> Organisation:
    """Add an organisation to the actor's environment; the actor becomes its Administrator."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR, Role.ADVANCED_USER)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    require_room_for_organisation(session, environment=environment)
    data = clean_organisation_input(
        session,
        environment_id=environment.id,
        name=name,
        kvk_number=kvk_number,
        vat_number=vat_number,
        street=street,
        postal_code=postal_code,
        city=city,
    )
    try:
        with committing(session):
            organisation = add_organisation_rows(session, actor=actor, data=data)
    except IntegrityError:
        if _kvk_taken(session, environment_id=environment.id, kvk_number=data.kvk_number):
            raise ValidationFailed({"kvk_number": i18n.gettext(DUPLICATE_KVK_MESSAGE)}) from None
        raise
    return organisation


def _get_own_organisation(session: Session, *, actor: User, organisation_id: int) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or organisation.environment_id != actor.environment_id:
        raise NotFound(i18n.gettext("This organisation does not exist."))
    return organisation


def can_configure(session: Session, *, actor: User, organisation: Organisation) -> bool:
    """Whether the actor may activate an own organisation and change its settings: Advanced users
    and Administrators of its environment, or an Administrator member of it."""
    if organisation.environment_id != actor.environment_id:
        return False
    return can_manage_partnerships(actor) or memberships.is_organisation_administrator(
        session,
        organisation_id=organisation.id,  # type: ignore[arg-type]
        user_id=actor.id,  # type: ignore[arg-type]
    )


def _require_organisation_manager(
    session: Session, *, actor: User, organisation: Organisation
) -> None:
    """Advanced users and Administrators, or an Administrator member of the organisation."""
    if can_configure(session, actor=actor, organisation=organisation):
        return
    raise PermissionDenied(
        i18n.gettext(
            "Only Administrators, Advanced users and administrators of this organisation can change it."
        )
    )


def activate_organisation(session: Session, *, actor: User, organisation_id: int) -> Organisation:
    """Activate an organisation of the actor's environment (activating twice changes nothing)."""
    actor = load_actor(session, actor)
    organisation = _get_own_organisation(session, actor=actor, organisation_id=organisation_id)
    _require_organisation_manager(session, actor=actor, organisation=organisation)
    if organisation.activated_at is not None:
        return organisation
    with committing(session):
        organisation.activated_at = utcnow()
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="organisation.activated",
            summary=i18n.gettext(
                "{actor} activated organisation {organisation}.",
                actor=actor.name or actor.email,
                organisation=organisation.name,
            ),
            subject_type="organisation",
            subject_id=organisation.id,
        )
    return organisation


def set_receive_e_invoices(
    session: Session, *, actor: User, organisation_id: int, enabled: bool
) -> Organisation:
    """Choose whether an organisation receives e-invoices (off by default; it costs money)."""
    actor = load_actor(session, actor)
    organisation = _get_own_organisation(session, actor=actor, organisation_id=organisation_id)
    _require_organisation_manager(session, actor=actor, organisation=organisation)
    if organisation.receive_e_invoices == enabled:
        return organisation
    with committing(session):
        organisation.receive_e_invoices = enabled
        summary = (
            i18n.gettext(
                "{actor} turned receiving e-invoices on for {organisation}.",
                actor=actor.name or actor.email,
                organisation=organisation.name,
            )
            if enabled
            else i18n.gettext(
                "{actor} turned receiving e-invoices off for {organisation}.",
                actor=actor.name or actor.email,
                organisation=organisation.name,
            )
        )
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="organisation.e_invoices_changed",
            summary=summary,
            subject_type="organisation",
            subject_id=organisation.id,
        )
    return organisation


def set_findable(session: Session, *, actor: User, organisation_id: int, findable: bool) -> Organisation:
    """Choose whether other environments find an (activated) organisation in Find partners."""
    actor = load_actor(session, actor)
    organisation = _get_own_organisation(session, actor=actor, organisation_id=organisation_id)
    _require_organisation_manager(session, actor=actor, organisation=organisation)
    if organisation.findable == findable:
        return organisation
    with committing(session):
        organisation.findable = findable
        summary = (
            i18n.gettext(
                "{actor} made {organisation} findable in Find partners.",
                actor=actor.name or actor.email,
                organisation=organisation.name,
            )
            if findable
            else i18n.gettext(
                "{actor} made {organisation} not findable in Find partners.",
                actor=actor.name or actor.email,
                organisation=organisation.name,
            )
        )
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="organisation.findable_changed",
            summary=summary,
            subject_type="organisation",
            subject_id=organisation.id,
        )
    return organisation


def has_activated_organisation(session: Session, *, environment_id: int) -> bool:
    """Whether the environment has activated at least one of its organisations (onboarding can end)."""
    activated = select(Organisation.id).where(
        Organisation.environment_id == environment_id,
        col(Organisation.activated_at).is_not(None),
    )
    return session.exec(activated).first() is not None


def list_own_organisations(session: Session, *, actor: User) -> list[Organisation]:
    """All organisations of the actor's environment, by name (for choices such as a select; the
    organisations list pages through ``organisation_overview.organisations_page``)."""
    actor = load_actor(session, actor)
    statement = (
        select(Organisation)
        .where(Organisation.environment_id == actor.environment_id)
        .order_by(func.lower(Organisation.name), col(Organisation.id))
    )
    return list(session.exec(statement))


def complete_onboarding(session: Session, *, actor: User) -> Environment:
    """Finish onboarding once at least one organisation is activated (Administrators only)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    if environment.onboarding_completed_at is not None:
        return environment
    if not has_activated_organisation(session, environment_id=environment.id):
        raise Conflict(i18n.gettext(ONBOARDING_INCOMPLETE_MESSAGE))
    with committing(session):
        record_onboarding(session, environment=environment, actor=actor)
    return environment


def record_onboarding(session: Session, *, environment: Environment, actor: User) -> None:
    """Mark the environment onboarded, with its activity row (caller's transaction; once)."""
    if environment.onboarding_completed_at is not None:
        return
    environment.onboarding_completed_at = utcnow()
    session.add(environment)
    activity.record(
        session,
        environment_id=environment.id,
        actor=actor,
        action="environment.onboarded",
        summary=i18n.gettext("{actor} completed onboarding.", actor=actor.name or actor.email),
        subject_type="environment",
        subject_id=environment.id,
    )


def needs_onboarding(session: Session, *, user: User) -> bool:
    """Whether the user's environment has not finished onboarding yet."""
    environment = session.get(Environment, user.environment_id)
    return environment is not None and environment.onboarding_completed_at is None
