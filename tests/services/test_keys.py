"""Connection keys: one key set per environment, Secret shown once and stored as a hash, rotation,
authentication, and the organisations whose keys a user may see."""

from __future__ import annotations

import hashlib

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
)
from econnect_app.services import keys
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied


def partner_with_member(session: Session, firm, user, organisation: Organisation) -> Partnership:  # type: ignore[no-untyped-def]
    low, high = sorted((firm.id, organisation.environment_id))
    partnership = Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=firm.id)
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


def test_a_second_key_set_is_refused(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    keys.create_key_set(session, actor=admin)
    with pytest.raises(Conflict, match="already has a key set"):
        keys.create_key_set(session, actor=admin)
    assert count(session, KeySet) == 1
    assert len(activities(session, action="keys.created")) == 1


def test_a_concurrent_second_key_set_hits_the_unique_constraint_as_a_conflict(
    session: Session, engine, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    keys.create_key_set(session, actor=admin)
    # Simulate the race: the existence check sees nothing, the database refuses the duplicate.
    monkeypatch.setattr(keys, "_key_set_of", lambda _session, _environment_id: None)
    with Session(engine, expire_on_commit=False) as other:
        with pytest.raises(Conflict, match="already has a key set"):
            keys.create_key_set(other, actor=admin)
    assert count(session, KeySet) == 1
    assert len(activities(session, action="keys.created")) == 1


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
    first, first_secret = keys.create_key_set(session, actor=make_admin(session, make_environment(session, name="A")))
    second, second_secret = keys.create_key_set(session, actor=make_admin(session, make_environment(session, name="B")))
    assert first.app_key != second.app_key
    assert first_secret != second_secret
    assert keys.authenticate_key(session, app_key=first.app_key, secret=second_secret) is None


# --- read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value])
def test_advanced_users_and_administrators_read_the_app_key(session: Session, role: str) -> None:
    environment = make_environment(session)
    created, _ = keys.create_key_set(session, actor=make_admin(session, environment))
    reader = make_user(session, environment, role=role)
    key_set = keys.get_key_set(session, actor=reader)
    assert key_set is not None and key_set.app_key == created.app_key


def test_plain_users_may_not_read_the_key_set(session: Session) -> None:
    environment = make_environment(session)
    keys.create_key_set(session, actor=make_admin(session, environment))
    with pytest.raises(PermissionDenied):
        keys.get_key_set(session, actor=make_user(session, environment, role=Role.USER.value))


def test_no_key_set_yet_reads_as_none(session: Session) -> None:
    assert keys.get_key_set(session, actor=make_admin(session, make_environment(session))) is None


# --- rotate -------------------------------------------------------------------------------------


def test_rotating_replaces_the_secret_and_the_old_one_stops_working(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    key_set, old_secret = keys.create_key_set(session, actor=admin)
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret=old_secret) is not None

    rotated, new_secret = keys.rotate_secret(session, actor=admin)

    assert new_secret != old_secret
    row = stored_key_set(session, environment.id)
    assert row.app_key == key_set.app_key == rotated.app_key  # the App key stays
    assert row.secret_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    assert row.rotated_at is not None
    assert keys.authenticate_key(session, app_key=row.app_key, secret=old_secret) is None
    assert keys.authenticate_key(session, app_key=row.app_key, secret=new_secret) is not None
    assert [entry.actor_user_id for entry in activities(session, action="keys.rotated")] == [admin.id]


def test_rotating_without_a_key_set_says_to_create_one(session: Session) -> None:
    with pytest.raises(NotFound, match="Create one first"):
        keys.rotate_secret(session, actor=make_admin(session, make_environment(session)))
    assert count(session, ActivityLog) == 0


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_rotate(session: Session, role: str) -> None:
    environment = make_environment(session)
    key_set, secret = keys.create_key_set(session, actor=make_admin(session, environment))
    with pytest.raises(PermissionDenied):
        keys.rotate_secret(session, actor=make_user(session, environment, role=role))
    assert keys.authenticate_key(session, app_key=key_set.app_key, secret=secret) is not None
    assert activities(session, action="keys.rotated") == []


def test_a_demoted_administrator_is_refused_at_once(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    keys.create_key_set(session, actor=admin)
    stale = admin.model_copy()  # what a page may have cached
    admin.role = Role.USER.value
    session.add(admin)
    session.commit()
    with pytest.raises(PermissionDenied):
        keys.rotate_secret(session, actor=stale)


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


def test_an_unknown_app_key_costs_the_same_hashing_work(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    key_set, secret = keys.create_key_set(session, actor=make_admin(session, make_environment(session)))
    hashed: list[str] = []
    compared: list[tuple[bytes, bytes]] = []
    real_hash = keys.security.hash_token
    real_compare = keys.hmac.compare_digest
    monkeypatch.setattr(keys.security, "hash_token", lambda raw: hashed.append(raw) or real_hash(raw))
    monkeypatch.setattr(keys.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real_compare(a, b))

    keys.authenticate_key(session, app_key="ak_unknown", secret="sk_guess")
    keys.authenticate_key(session, app_key=key_set.app_key, secret="sk_guess")

    assert hashed == ["sk_guess", "sk_guess"]
    assert len(compared) == 2
    assert all(len(a) == len(b) == 64 for a, b in compared)


# --- list_client_keys ---------------------------------------------------------------------------


def test_list_client_keys_shows_own_and_reachable_client_organisations(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    admin = make_admin(session, firm)
    own = make_organisation(session, firm, name="Firm BV", activated=True)
    make_organisation(session, firm, name="Not activated BV")  # no keys before it is activated
    client_env = make_environment(session, name="Bakker Holding")
    client_org = make_organisation(session, client_env, name="Bakkerij", activated=True)
    package = SoftwarePackage(slug="moneybird", name="Moneybird", instructions="Open Moneybird, then Settings.")
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
