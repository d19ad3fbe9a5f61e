"""Text that SQLite stores but PostgreSQL refuses: an over-long activity summary, a NUL character.

These pass on SQLite either way; run with ``ECONNECT_TEST_DB_URL`` they prove the services never
send PostgreSQL what it refuses (it would raise DataError instead of the friendly outcome).
"""

from __future__ import annotations

import pytest
from activation_factories import make_scene, make_software_package
from conftest_factories import activities, make_admin, make_environment
from sqlmodel import Session, select

from econnect_app.models import AuthorisationRequest, LoginAttempt, Plan, User
from econnect_app.services import accounts, activity, authorisations, keys, sessions
from econnect_app.services.errors import InvalidCredentials

LONGEST_NAME = "N" * 200  # the longest name the validation allows
LONGEST_EMAIL = "e" * 64 + "@" + "d" * 60 + "." + "o" * 60 + "." + "m" * 50 + ".com"  # 240 characters


def test_a_summary_longer_than_its_column_is_cut_with_an_ellipsis(session: Session) -> None:
    environment = make_environment(session)
    activity.record(session, environment_id=environment.id, actor=None, action="test", summary="x" * 600)
    session.commit()

    [entry] = activities(session, action="test")
    assert len(entry.summary) == activity.SUMMARY_MAX_LENGTH
    assert entry.summary.endswith("x\u2026")


def test_a_request_between_the_longest_names_and_address_is_saved(session: Session) -> None:
    firm = make_environment(session, name=LONGEST_NAME, plan=Plan.BASIC.value)
    admin = make_admin(session, firm, name=LONGEST_NAME)
    package = make_software_package(session)

    request = authorisations.create_request(
        session,
        actor=admin,
        client_name=LONGEST_NAME,
        client_email=LONGEST_EMAIL,
        software_package_id=package.id,  # type: ignore[arg-type]
        organisation_name=LONGEST_NAME,
    )

    assert request.client_email == LONGEST_EMAIL
    [entry] = activities(session, action="authorisation.created")
    assert len(entry.summary) <= activity.SUMMARY_MAX_LENGTH
    assert entry.summary.startswith(LONGEST_NAME)


def test_nul_characters_are_dropped_from_names(session: Session) -> None:
    user = accounts.sign_up(
        session,
        name="Ada\x00 Lovelace",
        email="ada@example.com",
        password="correct horse battery staple",
        company_name="Love\x00lace Accounting",
    ).user

    session.expire_all()
    stored = session.get(User, user.id)
    assert stored is not None and stored.name == "Ada Lovelace"


def test_nul_characters_in_a_csv_import_are_dropped(session: Session) -> None:
    firm = make_environment(session, plan=Plan.BASIC.value)
    admin = make_admin(session, firm)
    make_software_package(session, name="Exact Online")
    csv_text = "client name,email,software package,organisation\nPi\x00et,piet@example.com,Exact Online,Bakkerij\x00 Piet\n"

    result = authorisations.import_requests_csv(session, actor=admin, csv_text=csv_text)

    assert len(result.created) == 1, result
    [request] = session.exec(select(AuthorisationRequest)).all()
    assert (request.client_name, request.organisation_name) == ("Piet", "Bakkerij Piet")


def test_a_decline_reason_with_a_nul_character_is_kept_without_it(session: Session) -> None:
    scene = make_scene(session)

    authorisations.decline_request(session, user=scene.client, token=scene.token, reason="Not\x00 now")

    session.expire_all()
    request = session.get(AuthorisationRequest, scene.request.id)
    assert request is not None and request.decline_reason == "Not now"


def test_a_login_email_with_a_nul_character_is_a_failed_attempt(session: Session) -> None:
    with pytest.raises(InvalidCredentials):
        sessions.log_in(session, email="ada\x00@example.com", password="whatever it is")

    [attempt] = session.exec(select(LoginAttempt)).all()
    assert not attempt.succeeded
    assert "\x00" not in attempt.email


def test_an_app_key_with_a_nul_character_is_unknown(session: Session) -> None:
    key_set, secret = keys.create_key_set(session, actor=make_admin(session, make_environment(session)))

    assert keys.authenticate_key(session, app_key=key_set.app_key + "\x00", secret=secret) is None
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret=secret) is not None
