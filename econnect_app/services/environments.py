"""Environment settings: the name, the subscription plan (no payment processing) and the time zone."""

from __future__ import annotations

from zoneinfo import available_timezones

from sqlmodel import Session, select

from econnect_app import i18n, security
from econnect_app.formatting import DEFAULT_TIME_ZONE
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    Environment,
    Plan,
    RelationshipRequest,
    Role,
    User,
)
from econnect_app.services import activity, authorisations, partnerships
from econnect_app.services.errors import ConfirmationNeeded, ValidationFailed
from econnect_app.services.organisations import count_organisations, organisation_limit
from econnect_app.services.permissions import load_actor, plan_has_partnerships, require_role
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldErrors, clean_required

PLAN_CHOICES: tuple[str, ...] = tuple(plan.value for plan in Plan)
TIME_ZONE_FIELD = "time_zone"
# The zones most environments choose come first; then every IANA zone, in alphabetical order.
PREFERRED_TIME_ZONES: tuple[str, ...] = ("Europe/Amsterdam", "Europe/Brussels", "Europe/London", "UTC")
_NOT_PLACES = frozenset({"Factory", "localtime", "posixrules"})  # files in the zone database, no zones
TIME_ZONE_CHOICES: tuple[str, ...] = PREFERRED_TIME_ZONES + tuple(
    sorted(available_timezones() - set(PREFERRED_TIME_ZONES) - _NOT_PLACES)
)


def get_environment(session: Session, *, actor: User) -> Environment:
    """The actor's environment."""
    actor = load_actor(session, actor)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    return environment


def is_client_only(session: Session, *, environment_id: int) -> bool:
    """Whether the environment is only ever a client: it is the other side of a partnership it
    did not start and has sent no authorisation or relationship request of its own (the
    accountant's sections then stay out of its way)."""
    started = session.exec(
        select(AuthorisationRequest.id).where(AuthorisationRequest.environment_id == environment_id).limit(1)
    ).first()
    asked = session.exec(
        select(RelationshipRequest.id).where(RelationshipRequest.requester_environment_id == environment_id).limit(1)
    ).first()
    if started is not None or asked is not None:
        return False
    return any(
        partnership.initiator_environment_id != environment_id
        for partnership in partnerships.partnerships_of(session, environment_id=environment_id)
    )


def downgrade_consequences(session: Session, *, environment: Environment, plan: str) -> str | None:
    """What moving to ``plan`` would change for requests and partnerships, or None when nothing:
    leaving Basic/Professional while requests are pending or partnerships are active."""
    if not plan_has_partnerships(environment.plan) or plan_has_partnerships(plan):
        return None
    pending = authorisations.count_pending(session, environment_id=environment.id)  # type: ignore[arg-type]
    active = partnerships.count_active_partnerships(session, environment_id=environment.id)  # type: ignore[arg-type]
    if not pending and not active:
        return None
    parts = [
        i18n.gettext("On the {plan} plan you cannot send authorisation or relationship requests.", plan=plan)
    ]
    if pending:
        parts.append(
            i18n.ngettext(
                "The links of your {count} pending request stop working: clients cannot answer them until "
                "you choose Basic or Professional again.",
                "The links of your {count} pending requests stop working: clients cannot answer them until "
                "you choose Basic or Professional again.",
                pending,
            )
        )
    if active:
        parts.append(
            i18n.ngettext(
                "Your {count} active partnership stay: a plan change does not undo what clients granted.",
                "Your {count} active partnerships stay: a plan change does not undo what clients granted.",
                active,
            )
        )
    parts.append(i18n.gettext("Your request history stays visible."))
    return " ".join(parts)


def update_environment(
    session: Session, *, actor: User, name: str, plan: str, confirmed: bool = False
) -> Environment:
    """Change the environment's name and subscription plan (Administrators only).

    Leaving the plans with partnerships while requests are pending or partnerships are active
    raises ``ConfirmationNeeded`` (saying what happens) unless ``confirmed``.
    """
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None

    fields = FieldErrors()
    clean_name = fields.check("name", clean_required, name, label=i18n.N_("the environment name"))
    clean_plan = (plan or "").strip()
    if clean_plan not in PLAN_CHOICES:
        fields.add("plan", i18n.gettext("Choose Invoice Portal, Basic or Professional."))
    else:
        limit = organisation_limit(clean_plan)
        owned = count_organisations(session, environment_id=environment.id)
        if limit is not None and owned > limit:
            fields.add(
                "plan",
                i18n.gettext(
                    "The {plan} plan allows at most {limit} organisations and your environment has {owned}. "
                    "Keep Basic or Professional to keep them all.",
                    plan=clean_plan,
                    limit=limit,
                    owned=owned,
                ),
            )
    fields.raise_if_any()
    consequences = downgrade_consequences(session, environment=environment, plan=clean_plan)
    if consequences and not confirmed:
        raise ConfirmationNeeded(consequences)

    old_name, old_plan = environment.name, environment.plan
    if (old_name, old_plan) == (clean_name, clean_plan):
        return environment
    who = actor.name or actor.email
    if old_plan == clean_plan:
        summary = i18n.gettext(
            "{who} changed the name from {old_name} to {new_name}.",
            who=who,
            old_name=old_name,
            new_name=clean_name,
        )
    elif old_name == clean_name:
        summary = i18n.gettext(
            "{who} changed the plan from {old_plan} to {new_plan}.",
            who=who,
            old_plan=old_plan,
            new_plan=clean_plan,
        )
    else:
        summary = i18n.gettext(
            "{who} changed the name from {old_name} to {new_name} and the plan from {old_plan} to "
            "{new_plan}.",
            who=who,
            old_name=old_name,
            new_name=clean_name,
            old_plan=old_plan,
            new_plan=clean_plan,
        )
    with committing(session):
        environment.name = clean_name
        environment.plan = clean_plan
        activity.record(
            session,
            environment_id=environment.id,
            actor=actor,
            action="environment.updated",
            summary=summary,
            subject_type="environment",
            subject_id=environment.id,
        )
    return environment


# --- time zone ------------------------------------------------------------------------------------


def time_zone_of(session: Session, *, environment_id: int | None) -> str:
    """The time zone an environment's dates and times are shown in (the default without one)."""
    environment = session.get(Environment, environment_id) if environment_id is not None else None
    return (environment.time_zone if environment else None) or DEFAULT_TIME_ZONE


def time_zone_of_authorisation_link(
    session: Session, *, token: str | None = None, request_id: int | None = None
) -> str:
    """The time zone of the environment that sent an authorisation request, found by the token of
    one of its links or by its id, for the client's activation page (the default when unknown)."""
    if token:
        request_id = session.exec(
            select(AuthorisationLink.request_id).where(AuthorisationLink.token_hash == security.hash_token(token))
        ).first()
    request = session.get(AuthorisationRequest, request_id) if request_id is not None else None
    return time_zone_of(session, environment_id=request.environment_id if request else None)


def update_time_zone(session: Session, *, actor: User, time_zone: str) -> Environment:
    """Show the environment's dates and times, in pages and emails, in ``time_zone`` (an IANA
    name from ``TIME_ZONE_CHOICES``; Administrators only)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    clean_zone = (time_zone or "").strip()
    if clean_zone not in TIME_ZONE_CHOICES:
        raise ValidationFailed(
            {TIME_ZONE_FIELD: i18n.gettext("Choose a time zone from the list, e.g. Europe/Amsterdam.")}
        )
    old_zone = environment.time_zone or DEFAULT_TIME_ZONE
    if clean_zone == environment.time_zone:
        return environment
    with committing(session):
        environment.time_zone = clean_zone
        activity.record(
            session,
            environment_id=environment.id,
            actor=actor,
            action="environment.time_zone_changed",
            summary=i18n.gettext(
                "{who} changed the time zone from {old_zone} to {new_zone}.",
                who=actor.name or actor.email,
                old_zone=old_zone,
                new_zone=clean_zone,
            ),
            subject_type="environment",
            subject_id=environment.id,
        )
    return environment
