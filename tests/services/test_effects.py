"""After-commit effects by construction: live changes published on commit, activity required."""

from __future__ import annotations

import pytest
from conftest_factories import make_admin, make_environment, make_organisation
from sqlmodel import Session, select

from econnect_app import live
from econnect_app.models import ActivityLog, Environment, Membership, MembershipRole, Organisation, User
from econnect_app.services import activity, effects
from econnect_app.services.transaction import committing


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def test_a_committed_change_is_published_once_per_environment_after_the_commit(
    session: Session, published: list[int]
) -> None:
    firm = make_environment(session, name="Firm")
    client = make_environment(session, name="Client")
    organisation = make_organisation(session, client, name="Bakery")
    accountant = make_admin(session, firm)
    published.clear()

    with committing(session):
        session.add(Membership(organisation_id=organisation.id, user_id=accountant.id))
        activity.record(session, environment_id=client.id, actor=accountant, action="t", summary="t")
        session.flush()
        assert published == []  # nothing before the commit
    assert sorted(published) == sorted([firm.id, client.id])


def test_a_rolled_back_use_case_publishes_nothing(session: Session, published: list[int]) -> None:
    firm = make_environment(session, name="Firm")
    published.clear()
    with pytest.raises(RuntimeError), committing(session):
        firm.name = "Renamed"
        session.add(firm)
        session.flush()
        raise RuntimeError("boom")
    session.commit()  # an empty commit afterwards does not publish what was rolled back
    assert published == []
    assert session.get(Environment, firm.id).name == "Firm"


def test_a_released_savepoint_publishes_only_when_the_transaction_commits(
    session: Session, published: list[int]
) -> None:
    firm = make_environment(session, name="Firm")
    admin = make_admin(session, firm)
    published.clear()
    with committing(session):
        session.exec(select(User)).all()
        session.connection()
        with session.begin_nested():
            session.add(Organisation(environment_id=firm.id, name="Own", kvk_number="12345678", identifier="x1"))
            session.flush()
        assert published == []
        activity.record(session, environment_id=firm.id, actor=admin, action="t", summary="t")
    assert published == [firm.id]


def test_a_use_case_that_forgets_its_activity_commits_nothing(session: Session, published: list[int]) -> None:
    firm = make_environment(session, name="Firm")
    organisation = make_organisation(session, firm, name="Bakery")
    admin = make_admin(session, firm)
    published.clear()
    with pytest.raises(effects.MissingActivity, match="membership"), committing(session):
        session.add(
            Membership(organisation_id=organisation.id, user_id=admin.id, role=MembershipRole.MEMBER.value)
        )
    session.expire_all()
    assert session.exec(select(Membership)).all() == []
    assert published == []


def test_bookkeeping_writes_need_no_activity_and_quiet_attributes_publish_nothing(
    session: Session, published: list[int]
) -> None:
    firm = make_environment(session, name="Firm")
    admin = make_admin(session, firm)
    published.clear()
    with committing(session):
        admin.password_hash = "another-hash"
        session.add(admin)
    assert published == []
    assert session.exec(select(ActivityLog)).all() == []


def test_a_bulk_statement_names_its_environment(session: Session, published: list[int]) -> None:
    firm = make_environment(session, name="Firm")
    published.clear()
    with committing(session):
        effects.changed(session, firm.id)
    assert published == [firm.id]
