"""Connection keys: named key sets per environment, Secret shown once and stored as a hash,
rotation with a grace period for the previous Secret, revocation, authentication, and the
organisations whose keys a user may see."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from conftest_factories import activities, count, make_admin, make_environment, make_organisation, make_user
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from econnect_app.models import (
    ActivityLog,
    KeySet,
    Membership,
    Organisation,
    Partnership,
    PartnershipStatus,
    Role,
    SoftwarePackage,
    UserStatus,
    utcnow,
)
from econnect_app.services import keys
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from econnect_app.settings import get_settings


def partner_with_member(session: Session, firm, user, organisation: Organisation) -> Partnership:  # type: ignore[no-untyped-def]
    low, high = sorted((firm.id, organisation.environment_id))
    partnership = Partnership(
        environment_low_id=low, environment_high_id=high, initiator_environment_id=firm.id
    )
    session.add(partnership)
    session.add(Membership(organisation_id=organisation.id, user_id=user.id))
    session.commit()
    return partnership


def database_dump(engine: Engine) -> str:
    """Every value of every row of every table, as text (SQLite and PostgreSQL alike)."""
    lines: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            lines.extend(repr(tuple(row)) for row in connection.execute(table.select()))
    return "\n".join(lines)


def stored_key_set(session: Session, environment_id: int) -> KeySet:
    session.expire_all()
    return session.exec(select(KeySet).where(KeySet.environment_id == environment_id)).one()


# --- create -------------------------------------------------------------------------------------


def test_an_administrator_creates_the_key_set_and_gets_the_secret_once(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)

    key_set, secret = keys.create_key_set(session, actor=admin)

    row = stored_key_set(session, environment.id)
    assert row.id == key_set.id
    assert row.app_key.startswith("ak_") and len(row.app_key) > 20
    assert secret.startswith("sk_") and len(secret) >= 40
    # Only the SHA-256 of the secret is stored; the secret itself is nowhere in the row.
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(row.model_dump())
    assert row.created_by_id == admin.id
    assert [entry.actor_user_id for entry in activities(session, action="keys.created")] == [admin.id]


def test_the_secret_is_not_kept_anywhere_in_the_database(session: Session, engine: Engine) -> None:
    admin = make_admin(session, make_environment(session))
    _, secret = keys.create_key_set(session, actor=admin)
    dump = database_dump(engine)
    assert hashlib.sha256(secret.encode()).hexdigest() in dump  # the dump does hold the key set
    assert secret not in dump
    assert secret[3:] not in dump


def test_an_environment_holds_several_named_key_sets(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment, name="Ann")
    office, office_secret = keys.create_key_set(session, actor=admin, name="  Office   laptop ")
    default, default_secret = keys.create_key_set(session, actor=admin)

    assert (office.name, default.name) == ("Office laptop", "Default")
    assert office.app_key != default.app_key and office_secret != default_secret
    assert [key_set.name for key_set in keys.list_key_sets(session, actor=admin)] == [
        "Office laptop",
        "Default",
    ]
    # Each set's Secret works with its own App key only.
    assert keys.authenticate_key(session, app_key=office.app_key, secret=office_secret).id == office.id  # type: ignore[union-attr]
    assert keys.authenticate_key(session, app_key=office.app_key, secret=default_secret) is None
    assert [entry.summary for entry in activities(session, action="keys.created")] == [
        "Ann created the key set \u201cOffice laptop\u201d.",
        "Ann created the key set \u201cDefault\u201d.",
    ]


@pytest.mark.parametrize("name", ["Default", "default", " DEFAULT "])
def test_a_name_in_use_is_refused_next_to_the_field(session: Session, name: str) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    keys.create_key_set(session, actor=admin)
    with pytest.raises(ValidationFailed) as refused:
        keys.create_key_set(session, actor=admin, name=name)
    assert refused.value.errors == {
        "name": f"A key set named \u201c{name.strip()}\u201d already exists. Choose another name."
    }
    assert count(session, KeySet) == 1
    assert len(activities(session, action="keys.created")) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Enter a name for the key set."),
        ("   ", "Enter a name for the key set."),
        ("x" * 101, "Use at most 100 characters."),
    ],
)
def test_a_key_set_needs_a_name(session: Session, name: str, message: str) -> None:
    admin = make_admin(session, make_environment(session))
    with pytest.raises(ValidationFailed) as refused:
        keys.create_key_set(session, actor=admin, name=name)
    assert refused.value.errors == {"name": message}
    assert count(session, KeySet) == 0


def test_a_concurrent_key_set_of_the_same_name_hits_the_unique_index_as_a_field_error(
    session: Session,
    engine,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    keys.create_key_set(session, actor=admin, name="Office")
    # Simulate the race: the name check sees nothing, the database refuses the duplicate.
    monkeypatch.setattr(keys, "_current_key_sets", lambda _session, _environment_id: [])
    with Session(engine, expire_on_commit=False) as other:
        with pytest.raises(ValidationFailed, match="highlighted") as refused:
            keys.create_key_set(other, actor=admin, name="Office")
    assert "already exists" in refused.value.errors["name"]
    assert count(session, KeySet) == 1
    assert len(activities(session, action="keys.created")) == 1


def test_the_name_of_a_revoked_key_set_can_be_used_again(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    old, _ = keys.create_key_set(session, actor=admin)
    keys.revoke_key_set(session, actor=admin, key_set_id=old.id)
    new, _ = keys.create_key_set(session, actor=admin)
    assert new.id != old.id and new.name == old.name == "Default"
    assert [key_set.id for key_set in keys.list_key_sets(session, actor=admin)] == [new.id]


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_create_key_sets(session: Session, role: str) -> None:
    user = make_user(session, make_environment(session), role=role)
    with pytest.raises(PermissionDenied):
        keys.create_key_set(session, actor=user)
    assert count(session, KeySet) == 0
    assert count(session, ActivityLog) == 0


def test_a_blocked_administrator_cannot_create_keys(session: Session) -> None:
    admin = make_admin(session, make_environment(session), status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        keys.create_key_set(session, actor=admin)
    assert count(session, KeySet) == 0


def test_each_environment_has_its_own_key_set(session: Session) -> None:
    first, first_secret = keys.create_key_set(
        session, actor=make_admin(session, make_environment(session, name="A"))
    )
    second, second_secret = keys.create_key_set(
        session, actor=make_admin(session, make_environment(session, name="B"))
    )
    assert first.app_key != second.app_key
    assert first_secret != second_secret
    assert keys.authenticate_key(session, app_key=first.app_key, secret=second_secret) is None


# --- read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value])
def test_advanced_users_and_administrators_read_the_app_keys(session: Session, role: str) -> None:
    environment = make_environment(session)
    created, _ = keys.create_key_set(session, actor=make_admin(session, environment))
    keys.create_key_set(session, actor=make_admin(session, make_environment(session, name="Other")))
    reader = make_user(session, environment, role=role)
    assert [key_set.app_key for key_set in keys.list_key_sets(session, actor=reader)] == [created.app_key]


def test_plain_users_may_not_read_the_key_sets(session: Session) -> None:
    environment = make_environment(session)
    keys.create_key_set(session, actor=make_admin(session, environment))
    with pytest.raises(PermissionDenied):
        keys.list_key_sets(session, actor=make_user(session, environment, role=Role.USER.value))


def test_no_key_set_yet_reads_as_an_empty_list(session: Session) -> None:
    assert keys.list_key_sets(session, actor=make_admin(session, make_environment(session))) == []


# --- rotate -------------------------------------------------------------------------------------


def grace_hours(monkeypatch: pytest.MonkeyPatch, hours: int) -> None:
    changed = replace(get_settings(), key_rotation_grace_hours=hours)
    monkeypatch.setattr(keys, "get_settings", lambda: changed)


def works(session: Session, key_set: KeySet, secret: str, now: datetime | None = None) -> bool:
    return keys.authenticate_key(session, app_key=key_set.app_key, secret=secret, now=now) is not None


def test_rotating_keeps_the_old_secret_working_for_the_grace_period(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment, name="Ann")
    key_set, old_secret = keys.create_key_set(session, actor=admin)
    moment = utcnow()

    rotated, new_secret = keys.rotate_secret(session, actor=admin, key_set_id=key_set.id, now=moment)

    assert new_secret != old_secret
    row = stored_key_set(session, environment.id)
    assert row.app_key == key_set.app_key == rotated.app_key  # the App key stays
    assert row.secret_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    assert row.previous_secret_hash == hashlib.sha256(old_secret.encode()).hexdigest()
    assert row.previous_secret_valid_until == moment + timedelta(hours=24)
    assert row.rotated_at == moment
    assert works(session, row, new_secret)
    assert works(session, row, old_secret, now=moment + timedelta(hours=23, minutes=59))
    assert not works(session, row, old_secret, now=moment + timedelta(hours=24))
    [entry] = activities(session, action="keys.rotated")
    assert entry.actor_user_id == admin.id
    assert entry.summary.startswith(
        "Ann rotated the Secret of the key set \u201cDefault\u201d; the previous Secret works until "
    )


def test_revoke_now_ends_the_grace_period_at_once(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, old_secret = keys.create_key_set(session, actor=admin)
    _, new_secret = keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)
    assert works(session, key_set, old_secret)

    keys.revoke_previous_secret(session, actor=admin, key_set_id=key_set.id)

    row = stored_key_set(session, environment.id)
    assert row.previous_secret_hash is None and row.previous_secret_valid_until is None
    assert not works(session, row, old_secret)
    assert works(session, row, new_secret)
    assert [entry.actor_user_id for entry in activities(session, action="keys.previous_secret_revoked")] == [
        admin.id
    ]
    with pytest.raises(Conflict, match="already stopped working"):
        keys.revoke_previous_secret(session, actor=admin, key_set_id=key_set.id)


def test_a_second_rotation_stops_the_secret_still_in_its_grace_period(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    key_set, first = keys.create_key_set(session, actor=admin)
    _, second = keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)
    _, third = keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)
    assert not works(session, key_set, first)
    assert works(session, key_set, second) and works(session, key_set, third)


def test_without_a_grace_period_the_old_secret_stops_at_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    grace_hours(monkeypatch, 0)
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, old_secret = keys.create_key_set(session, actor=admin)
    _, new_secret = keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)
    row = stored_key_set(session, environment.id)
    assert row.previous_secret_hash is None and row.previous_secret_valid_until is None
    assert not works(session, row, old_secret) and works(session, row, new_secret)
    assert not activities(session, action="keys.rotated")[0].summary.count("until")


def test_the_grace_period_is_a_setting(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    grace_hours(monkeypatch, 2)
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, old_secret = keys.create_key_set(session, actor=admin)
    moment = utcnow()
    keys.rotate_secret(session, actor=admin, key_set_id=key_set.id, now=moment)
    assert stored_key_set(session, environment.id).previous_secret_valid_until == moment + timedelta(hours=2)
    assert not works(session, key_set, old_secret, now=moment + timedelta(hours=2, seconds=1))


def test_rotating_one_key_set_leaves_the_others_alone(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    office, office_secret = keys.create_key_set(session, actor=admin, name="Office")
    branch, branch_secret = keys.create_key_set(session, actor=admin, name="Branch")
    keys.rotate_secret(session, actor=admin, key_set_id=office.id, now=utcnow() - timedelta(days=2))
    assert not works(session, office, office_secret)  # its grace period is over
    assert works(session, branch, branch_secret)


def test_two_administrators_rotating_at_once_one_is_told(session: Session, engine: Engine) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, _ = keys.create_key_set(session, actor=admin)
    with Session(engine, expire_on_commit=False) as first, Session(engine, expire_on_commit=False) as second:
        # Both read the set before either writes (held: the sessions keep what they read).
        read_first, read_second = first.get(KeySet, key_set.id), second.get(KeySet, key_set.id)
        assert read_first is not None and read_second is not None
        _, winner = keys.rotate_secret(first, actor=admin, key_set_id=key_set.id)
        with pytest.raises(Conflict, match="changed by someone else"):
            keys.rotate_secret(second, actor=admin, key_set_id=key_set.id)
    row = stored_key_set(session, environment.id)
    assert row.secret_hash == hashlib.sha256(winner.encode()).hexdigest()
    assert works(session, row, winner)
    assert len(activities(session, action="keys.rotated")) == 1


@pytest.mark.parametrize("key_set_id", [None, "", "abc", "-1", 0, 10**12, 999999, True])
def test_rotating_an_unknown_key_set_says_so(session: Session, key_set_id: object) -> None:
    with pytest.raises(NotFound, match="no longer exists"):
        keys.rotate_secret(
            session, actor=make_admin(session, make_environment(session)), key_set_id=key_set_id
        )  # type: ignore[arg-type]
    assert count(session, ActivityLog) == 0


def test_a_key_set_of_another_environment_cannot_be_touched(session: Session) -> None:
    other, secret = keys.create_key_set(
        session, actor=make_admin(session, make_environment(session, name="Other"))
    )
    admin = make_admin(session, make_environment(session, name="Mine"))
    for change in (keys.rotate_secret, keys.revoke_previous_secret, keys.revoke_key_set):
        with pytest.raises(NotFound):
            change(session, actor=admin, key_set_id=other.id)
    assert works(session, other, secret)


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_rotate_and_revoke(session: Session, role: str) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, secret = keys.create_key_set(session, actor=admin)
    keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)
    user = make_user(session, environment, role=role)
    for change in (keys.rotate_secret, keys.revoke_previous_secret, keys.revoke_key_set):
        with pytest.raises(PermissionDenied):
            change(session, actor=user, key_set_id=key_set.id)
    assert works(session, key_set, secret)
    assert len(activities(session, action="keys.rotated")) == 1


def test_a_demoted_administrator_is_refused_at_once(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, _ = keys.create_key_set(session, actor=admin)
    stale = admin.model_copy()  # what a page may have cached
    admin.role = Role.USER.value
    session.add(admin)
    session.commit()
    with pytest.raises(PermissionDenied):
        keys.rotate_secret(session, actor=stale, key_set_id=key_set.id)


# --- revoke -------------------------------------------------------------------------------------


def test_revoking_a_key_set_stops_both_secrets_at_once_and_keeps_the_row(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment, name="Ann")
    key_set, old_secret = keys.create_key_set(session, actor=admin)
    _, new_secret = keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)

    keys.revoke_key_set(session, actor=admin, key_set_id=key_set.id)

    row = stored_key_set(session, environment.id)
    assert row.revoked_at is not None and row.revoked_by_id == admin.id
    assert not works(session, row, new_secret) and not works(session, row, old_secret)
    assert keys.list_key_sets(session, actor=admin) == []
    assert [entry.summary for entry in activities(session, action="keys.revoked")] == [
        "Ann revoked the key set \u201cDefault\u201d."
    ]
    with pytest.raises(NotFound, match="revoked"):
        keys.rotate_secret(session, actor=admin, key_set_id=key_set.id)
    with pytest.raises(NotFound):
        keys.revoke_key_set(session, actor=admin, key_set_id=key_set.id)


# --- authenticate -------------------------------------------------------------------------------


def test_authenticate_needs_both_the_app_key_and_the_secret(session: Session) -> None:
    key_set, secret = keys.create_key_set(session, actor=make_admin(session, make_environment(session)))
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret=secret).id == key_set.id  # type: ignore[union-attr]
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret=secret + "x") is None
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret="") is None
    assert keys.authenticate_key(session, app_key="ak_unknown", secret=secret) is None
    assert keys.authenticate_key(session, app_key="", secret=secret) is None
    # The stored hash itself is not a password.
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret=key_set.secret_hash) is None


def test_an_unknown_app_key_costs_the_same_hashing_work(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = make_admin(session, make_environment(session))
    key_set, secret = keys.create_key_set(session, actor=admin)
    rotated, _ = keys.create_key_set(session, actor=admin, name="Rotated")
    keys.rotate_secret(session, actor=admin, key_set_id=rotated.id)
    revoked, _ = keys.create_key_set(session, actor=admin, name="Revoked")
    keys.revoke_key_set(session, actor=admin, key_set_id=revoked.id)
    hashed: list[str] = []
    compared: list[tuple[bytes, bytes]] = []
    real_hash = keys.security.hash_token
    real_compare = keys.hmac.compare_digest
    monkeypatch.setattr(keys.security, "hash_token", lambda raw: hashed.append(raw) or real_hash(raw))
    monkeypatch.setattr(
        keys.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real_compare(a, b)
    )

    # Unknown, current without a previous Secret, current in its grace period, revoked.
    for app_key in ("ak_unknown", key_set.app_key, rotated.app_key, revoked.app_key):
        keys.authenticate_key(session, app_key=app_key, secret="sk_guess")

    assert hashed == ["sk_guess"] * 4
    assert len(compared) == 8  # the current and the previous Secret, every time
    assert all(len(a) == len(b) == 64 for a, b in compared)


# --- list_client_keys ---------------------------------------------------------------------------


def test_list_client_keys_shows_own_and_reachable_client_organisations(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    admin = make_admin(session, firm)
    own = make_organisation(session, firm, name="Firm BV", activated=True)
    make_organisation(session, firm, name="Not activated BV")  # no keys before it is activated
    client_env = make_environment(session, name="Bakker Holding")
    client_org = make_organisation(session, client_env, name="Bakkerij", activated=True)
    package = SoftwarePackage(
        slug="moneybird", name="Moneybird", instructions="Open Moneybird, then Settings."
    )
    session.add(package)
    session.commit()
    client_org.software_package_id = package.id
    session.add(client_org)
    session.commit()
    partner_with_member(session, firm, admin, client_org)
    make_organisation(session, client_env, name="Not a member")
    make_organisation(session, make_environment(session, name="Stranger"), name="Stranger BV")

    rows = keys.list_client_keys(session, actor=admin)

    assert rows == [
        keys.ClientKeyRow(
            organisation_id=own.id,
            organisation_name="Firm BV",
            organisation_identifier=own.identifier,
            environment_name="Firm",
            software_name=None,
            instructions="",
            is_own=True,
        ),
        keys.ClientKeyRow(
            organisation_id=client_org.id,
            organisation_name="Bakkerij",
            organisation_identifier=client_org.identifier,
            environment_name="Bakker Holding",
            software_name="Moneybird",
            instructions="Open Moneybird, then Settings.",
            is_own=False,
        ),
    ]


def test_list_client_keys_drops_an_organisation_when_the_partnership_ends(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value)
    client_org = make_organisation(session, make_environment(session, name="Client"), activated=True)
    partnership = partner_with_member(session, firm, advanced, client_org)
    assert [row.organisation_id for row in keys.list_client_keys(session, actor=advanced)] == [client_org.id]

    partnership.status = PartnershipStatus.ENDED.value
    session.add(partnership)
    session.commit()

    assert keys.list_client_keys(session, actor=advanced) == []


def test_plain_users_do_not_get_the_client_keys(session: Session) -> None:
    firm = make_environment(session)
    make_organisation(session, firm)
    with pytest.raises(PermissionDenied):
        keys.list_client_keys(session, actor=make_user(session, firm, role=Role.USER.value))
