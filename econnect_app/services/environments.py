"""Environment settings: the name and the subscription plan (no payment processing)."""

from __future__ import annotations

from sqlmodel import Session

from econnect_app.models import Environment, Plan, Role, User
from econnect_app.services import activity
from econnect_app.services.organisations import count_organisations, organisation_limit
from econnect_app.services.permissions import load_actor, require_role
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldErrors, clean_required

PLAN_CHOICES: tuple[str, ...] = tuple(plan.value for plan in Plan)


def get_environment(session: Session, *, actor: User) -> Environment:
    """The actor's environment."""
    actor = load_actor(session, actor)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    return environment


def update_environment(session: Session, *, actor: User, name: str, plan: str) -> Environment:
    """Change the environment's name and subscription plan (Administrators only)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None

    fields = FieldErrors()
    clean_name = fields.check("name", clean_required, name, label="the environment name")
    clean_plan = (plan or "").strip()
    if clean_plan not in PLAN_CHOICES:
        fields.add("plan", "Choose Invoice Portal, Basic or Professional.")
    else:
        limit = organisation_limit(clean_plan)
        owned = count_organisations(session, environment_id=environment.id)
        if limit is not None and owned > limit:
            fields.add(
                "plan",
                f"The {clean_plan} plan allows at most {limit} organisations and your environment "
                f"has {owned}. Keep Basic or Professional to keep them all.",
            )
    fields.raise_if_any()

    old_name, old_plan = environment.name, environment.plan
    if (old_name, old_plan) == (clean_name, clean_plan):
        return environment
    changes: list[str] = []
    if old_name != clean_name:
        changes.append(f"name from {old_name} to {clean_name}")
    if old_plan != clean_plan:
        changes.append(f"plan from {old_plan} to {clean_plan}")
    with committing(session):
        environment.name = clean_name
        environment.plan = clean_plan
        activity.record(
            session,
            environment_id=environment.id,
            actor=actor,
            action="environment.updated",
            summary=f"{actor.name or actor.email} changed the {' and the '.join(changes)}.",
            subject_type="environment",
            subject_id=environment.id,
        )
    return environment
