"""The environment's time zone: set by Administrators in Settings, used for its pages and emails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from activation_factories import make_scene
from conftest_factories import activities, make_admin, make_environment, make_user, outbox
from sqlmodel import Session

from econnect_app.formatting import DEFAULT_TIME_ZONE
from econnect_app.mail import queue_email
from econnect_app.models import Environment, Role
from econnect_app.services import accounts, environments
from econnect_app.services.errors import PermissionDenied, ValidationFailed

LATE_EVENING_UTC = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)  # already 4 March in Amsterdam


def test_a_new_environment_shows_times_in_amsterdam(session: Session) -> None:
    environment = make_environment(session)
    assert environment.time_zone == DEFAULT_TIME_ZONE == "Europe/Amsterdam"
    assert environments.time_zone_of(session, environment_id=environment.id) == "Europe/Amsterdam"
    assert environments.time_zone_of(session, environment_id=None) == "Europe/Amsterdam"


def test_the_choices_start_with_the_usual_zones_then_every_zone_in_order() -> None:
    choices = environments.TIME_ZONE_CHOICES
    assert choices[:4] == ("Europe/Amsterdam", "Europe/Brussels", "Europe/London", "UTC")
    rest = choices[4:]
    assert list(rest) == sorted(rest)
    assert "America/New_York" in rest and "Asia/Tokyo" in rest
    assert len(set(choices)) == len(choices)
    assert "localtime" not in choices


def test_an_administrator_sets_the_time_zone_and_it_is_recorded(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment, name="Anna de Vries")

    environments.update_time_zone(session, actor=admin, time_zone=" Europe/London ")

    session.expire_all()
    assert session.get(Environment, environment.id).time_zone == "Europe/London"
    assert environments.time_zone_of(session, environment_id=environment.id) == "Europe/London"
    [entry] = activities(session, action="environment.time_zone_changed")
    assert entry.actor_user_id == admin.id
    assert entry.environment_id == environment.id
    assert entry.summary == "Anna de Vries changed the time zone from Europe/Amsterdam to Europe/London."


def test_saving_the_same_zone_records_nothing(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    environments.update_time_zone(session, actor=admin, time_zone="Europe/Amsterdam")
    assert activities(session) == []


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_set_the_time_zone(session: Session, role: str) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=role)

    with pytest.raises(PermissionDenied):
        environments.update_time_zone(session, actor=user, time_zone="Europe/London")

    session.expire_all()
    assert session.get(Environment, environment.id).time_zone == "Europe/Amsterdam"
    assert activities(session) == []


@pytest.mark.parametrize("zone", ["", "Mars/Olympus_Mons", "europe/london", "localtime", "../etc/passwd"])
def test_an_unknown_zone_is_refused_next_to_the_field(session: Session, zone: str) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)

    with pytest.raises(ValidationFailed) as refused:
        environments.update_time_zone(session, actor=admin, time_zone=zone)

    assert refused.value.errors == {"time_zone": "Choose a time zone from the list, e.g. Europe/Amsterdam."}
    session.expire_all()
    assert session.get(Environment, environment.id).time_zone == "Europe/Amsterdam"
    assert activities(session) == []


def test_an_activation_link_knows_the_zone_of_the_firm_that_sent_it(session: Session) -> None:
    scene = make_scene(session)
    scene.firm.time_zone = "Europe/London"
    session.add(scene.firm)
    session.commit()

    assert environments.time_zone_of_authorisation_link(session, token=scene.token) == "Europe/London"
    assert environments.time_zone_of_authorisation_link(session, request_id=scene.request.id) == "Europe/London"
    assert environments.time_zone_of_authorisation_link(session, token="no-such-token") == "Europe/Amsterdam"
    assert environments.time_zone_of_authorisation_link(session, request_id=-1) == "Europe/Amsterdam"


def test_an_email_writes_its_dates_in_the_zone_of_its_environment(session: Session) -> None:
    amsterdam = make_environment(session, name="Amsterdam firm")
    london = make_environment(session, name="London firm")
    london.time_zone = "Europe/London"
    session.add(london)
    session.commit()
    for environment in (amsterdam, london):
        queue_email(
            session,
            template="partnership_ended",
            to=f"admin@{environment.id}.example",
            context={
                "name": "Admin",
                "partner_name": "Partner",
                "ended_by": "Someone",
                "ended_on": LATE_EVENING_UTC,
                "own_side": False,
                "link": "http://localhost:3000/partners",
            },
            environment_id=environment.id,
        )
    session.commit()

    in_amsterdam, in_london = outbox(session, template="partnership_ended")
    assert "on 4 March 2025." in in_amsterdam.text_body
    assert "on 3 March 2025." in in_london.text_body and "on 3 March 2025." in in_london.html_body


def test_the_password_changed_email_names_the_time_in_the_users_zone(session: Session, sign_up_user, password) -> None:  # type: ignore[no-untyped-def]
    user = sign_up_user()
    environment = session.get(Environment, user.environment_id)
    environment.time_zone = "Asia/Tokyo"
    session.add(environment)
    session.commit()

    accounts.change_password(
        session, user=user, current_password=password, new_password="another horse battery staple"
    )

    [message] = outbox(session, template="password_changed")
    assert " JST." in message.text_body  # e.g. "on 3 Mar 2025, 23:05 JST."
