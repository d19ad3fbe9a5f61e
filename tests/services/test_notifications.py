"""In-app notifications: what a user sees, unread counts and marking them read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import make_admin, make_environment, make_user
from sqlalchemy import Select, literal
from sqlmodel import Session, col, select
from sqlmodel.sql.sqltypes import UTCDateTime

from econnect_app.models import Notification, NotificationRead, User, UserStatus, utcnow
from econnect_app.services import notifications
from econnect_app.services.errors import PermissionDenied


def add(
    session: Session,
    *,
    environment_id: int,
    message: str,
    user_id: int | None = None,
    minutes_ago: int = 0,
    read_by: tuple[int, ...] = (),
) -> Notification:
    notification = Notification(
        environment_id=environment_id,
        user_id=user_id,
        kind="test",
        message=message,
        created_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    session.add(notification)
    session.flush()
    session.add_all(NotificationRead(notification_id=notification.id, user_id=reader) for reader in read_by)
    session.commit()
    return notification


def test_a_user_sees_their_environments_and_their_own_notifications_newest_first(session: Session) -> None:
    environment = make_environment(session)
    ada = make_admin(session, environment)
    bob = make_user(session, environment)
    elsewhere = make_environment(session, name="Elsewhere")
    add(session, environment_id=environment.id, message="for everyone, old", minutes_ago=10)
    add(session, environment_id=environment.id, message="for Ada", user_id=ada.id, minutes_ago=5)
    add(session, environment_id=environment.id, message="for Bob", user_id=bob.id, minutes_ago=4)
    add(session, environment_id=elsewhere.id, message="other environment")
    add(session, environment_id=environment.id, message="for everyone, new", minutes_ago=1)

    messages = [n.message for n, _read in notifications.list_notifications(session, user=ada)]

    assert messages == ["for everyone, new", "for Ada", "for everyone, old"]
    assert [n.message for n, _read in notifications.list_notifications(session, user=ada, limit=2)] == [
        "for everyone, new",
        "for Ada",
    ]


def test_read_state_is_per_user(session: Session) -> None:
    environment = make_environment(session)
    ada = make_admin(session, environment)
    bob = make_user(session, environment)
    add(session, environment_id=environment.id, message="shared")
    add(session, environment_id=environment.id, message="for Ada", user_id=ada.id)
    add(session, environment_id=environment.id, message="read by Ada before", read_by=(ada.id,))
    add(session, environment_id=environment.id, message="for Bob", user_id=bob.id)

    assert notifications.count_unread(session, user=ada) == 2
    assert notifications.count_unread(session, user=bob) == 3

    notifications.mark_all_read(session, user=ada)

    assert notifications.count_unread(session, user=ada) == 0
    assert all(read for _n, read in notifications.list_notifications(session, user=ada))
    # Bob still has the shared ones and his own unread: Ada reading them is Ada's business.
    assert notifications.count_unread(session, user=bob) == 3
    assert {n.message: read for n, read in notifications.list_notifications(session, user=bob)} == {
        "shared": False,
        "read by Ada before": False,
        "for Bob": False,
    }


def test_mark_all_read_twice_or_with_nothing_unread_changes_nothing(session: Session) -> None:
    environment = make_environment(session)
    ada = make_admin(session, environment)
    shared = add(session, environment_id=environment.id, message="shared")

    notifications.mark_all_read(session, user=ada)
    first_read_at = session.exec(select(NotificationRead.read_at)).one()
    notifications.mark_all_read(session, user=ada)

    reads = session.exec(select(NotificationRead)).all()
    assert [(r.notification_id, r.user_id, r.read_at) for r in reads] == [(shared.id, ada.id, first_read_at)]


def test_notify_adds_a_row_in_the_callers_transaction(session: Session) -> None:
    environment = make_environment(session)

    notification = notifications.notify(
        session,
        environment_id=environment.id,
        kind="authorisation.declined",
        message="x" * 600,
        link="/authorisations",
    )
    session.rollback()
    assert session.exec(select(Notification)).all() == []

    notification = notifications.notify(
        session,
        environment_id=environment.id,
        kind="authorisation.declined",
        message="x" * 600,
        link="/authorisations",
    )
    session.commit()
    assert len(notification.message) == 500 and notification.message.endswith("\u2026")


def test_an_inactive_user_sees_nothing(session: Session) -> None:
    environment = make_environment(session)
    blocked = make_user(session, environment, status=UserStatus.BLOCKED.value)

    with pytest.raises(PermissionDenied):
        notifications.list_notifications(session, user=blocked)
    with pytest.raises(PermissionDenied):
        notifications.count_unread(session, user=blocked)
    with pytest.raises(PermissionDenied):
        notifications.mark_all_read(session, user=blocked)


def test_mark_all_read_retries_when_another_tab_marked_some_at_the_same_moment(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt misses a read written at the same moment: the primary key refuses, we retry."""
    environment = make_environment(session)
    ada = make_admin(session, environment)
    already = add(session, environment_id=environment.id, message="read in the other tab", read_by=(ada.id,))
    new = add(session, environment_id=environment.id, message="new")
    earlier_read_at = session.exec(select(NotificationRead.read_at)).one()
    real_query = notifications._unread_as_reads
    calls: list[int] = []

    def miss_once(user: User) -> Select:
        calls.append(1)
        if len(calls) == 1:  # as if the other tab's read was not committed yet when we looked
            return select(col(Notification.id), literal(user.id), literal(utcnow(), type_=UTCDateTime())).where(
                Notification.environment_id == user.environment_id
            )
        return real_query(user)

    monkeypatch.setattr(notifications, "_unread_as_reads", miss_once)
    notifications.mark_all_read(session, user=ada)

    assert len(calls) == 2
    reads = {read.notification_id: read.read_at for read in session.exec(select(NotificationRead))}
    assert set(reads) == {already.id, new.id}
    assert reads[already.id] == earlier_read_at
    assert notifications.count_unread(session, user=ada) == 0
