"""Client Connect (seed 003): the link per organisation and managing environment (made once, stored
as a hash, regenerated), who may manage it, "Ask owner to connect" with the accountant in Cc, the
owner connecting an app without an account (recorded on both sides, every organisation
administrator emailed), validation, rate limits, races and disconnecting."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
from conftest_factories import (
    activities,
    count,
    make_admin,
    make_environment,
    make_organisation,
    make_user,
    outbox,
)
from partnership_factories import (
    BLOCKED,
    Pair,
    end_partnership_row,
    fresh,
    hold_until_both_arrive,
    make_actor,
    make_membership,
    make_pair,
    notifications,
    run_together,
    snapshot,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import live, routes, security
from econnect_app.models import (
    AppConnection,
    ClientConnectLink,
    Membership,
    MembershipRole,
    MembershipStatus,
    Role,
    SoftwarePackage,
    User,
    UserStatus,
)
from econnect_app.services import client_connect, throttle
from econnect_app.services.caller import calling_from
from econnect_app.services.client_connect import LINK_GONE
from econnect_app.services.errors import Conflict, InvalidToken, NotFound, PermissionDenied, ValidationFailed

CATALOGUE = [
    ("exact-online", "Exact Online"),
    ("twinfield", "Twinfield"),
    ("afas", "AFAS"),
    ("octopus", "Octopus"),
    ("other", "Other"),
]
OWNER = {"name": "Olga Owner", "email": "olga@korenbloem.example"}


@pytest.fixture()
def packages(session: Session) -> dict[str, SoftwarePackage]:
    """A few catalogue rows (the migration seeds the real ones; create_all does not)."""
    rows = {
        slug: SoftwarePackage(slug=slug, name=name, instructions=f"Set up {name}.", sort_order=order)
        for order, (slug, name) in enumerate(CATALOGUE)
    }
    session.add_all(rows.values())
    session.commit()
    return rows


@pytest.fixture()
def pair(session: Session, packages: dict[str, SoftwarePackage]) -> Pair:
    """Lovelace Accounting (Ada, an Advanced user, and Fiona, its Administrator, are members of the
    client's organisation) and Korenbloem Holding (Kees, Administrator member of Bakkerij De
    Korenbloem), partners."""
    made = make_pair(session)
    make_membership(session, made.firm_admin, made.client_organisation)
    return made


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def token_of(url: str) -> str:
    """The token at the end of a Client Connect URL (without a ``?app=`` query)."""
    path = url.split("?", 1)[0]
    prefix = routes.absolute(routes.client_connect(""))
    assert path.startswith(prefix), url
    return path[len(prefix) :]


def link_token(session: Session, actor: User, pair: Pair) -> str:
    """Make (or find) the actor's link to the client's organisation and return its raw token."""
    client_connect.ensure_link(session, actor=actor, organisation_id=pair.client_organisation.id)
    view = client_connect.client_connect_view(
        session, actor=actor, organisation_id=pair.client_organisation.id
    )
    return token_of(view.link_url)


def connect(session: Session, token: str, **overrides: object) -> client_connect.ConnectOutcome:
    values: dict[str, object] = {
        "software_package": "exact-online",
        "administration": "1234567",
        "name": OWNER["name"],
        "email": OWNER["email"],
        "agreed": True,
    }
    values.update(overrides)
    return client_connect.connect_app(session, token=token, **values)  # type: ignore[arg-type]


def connections(session: Session) -> list[AppConnection]:
    statement = select(AppConnection).order_by(AppConnection.id)  # type: ignore[arg-type]
    return list(session.exec(statement.execution_options(populate_existing=True)))


# --- the link -------------------------------------------------------------------------------------


def test_opening_the_section_writes_nothing_and_create_link_makes_one_link_stored_as_a_hash(
    session: Session, pair: Pair, published: list[int]
) -> None:
    organisation_id = pair.client_organisation.id
    before = snapshot(session)
    view = client_connect.client_connect_view(session, actor=pair.accountant, organisation_id=organisation_id)
    assert (view.can_manage, view.link_url, view.not_manager_reason) == (True, "", "")
    assert [app.name for app in view.apps] == [name for _slug, name in CATALOGUE]
    assert snapshot(session) == before  # reading never writes, even for a manager without a link
    assert activities(session, action="client_connect.link_created") == []

    link = client_connect.ensure_link(session, actor=pair.accountant, organisation_id=organisation_id)

    view = client_connect.client_connect_view(session, actor=pair.accountant, organisation_id=organisation_id)
    raw = token_of(view.link_url)
    assert view.link_url == f"http://localhost:3000/connect/{raw}"
    assert len(raw) >= 43  # 32 random bytes, URL-safe base64
    stored = fresh(session, ClientConnectLink, link.id)
    assert (stored.organisation_id, stored.environment_id, stored.created_by_id) == (
        organisation_id,
        pair.firm.id,
        pair.accountant.id,
    )
    assert stored.token_hash == security.hash_token(raw)
    assert stored.token_encrypted.startswith("fernet:") and raw not in stored.token_encrypted
    every_value = [str(value) for rows in snapshot(session).values() for row in rows for value in row]
    assert not any(raw in value for value in every_value)  # the raw token is nowhere in the database
    [entry] = activities(session, action="client_connect.link_created")
    assert (entry.environment_id, entry.actor_user_id) == (pair.firm.id, pair.accountant.id)
    assert entry.summary == "Ada Lovelace created the Client Connect link of Bakkerij De Korenbloem."
    assert published == [pair.firm.id]

    # Create link again (another tab, a colleague of the same firm): the same link.
    again = client_connect.ensure_link(session, actor=pair.firm_admin, organisation_id=organisation_id)
    assert again.id == link.id
    assert count(session, ClientConnectLink) == 1
    assert len(activities(session, action="client_connect.link_created")) == 1
    firm_admin_view = client_connect.client_connect_view(
        session, actor=pair.firm_admin, organisation_id=organisation_id
    )
    assert firm_admin_view.link_url == view.link_url

    public = client_connect.link_view(session, token=raw)
    assert (public.firm_name, public.organisation_name) == ("Lovelace Accounting", "Bakkerij De Korenbloem")
    assert [(app.slug, app.field_label) for app in public.apps][:2] == [
        ("exact-online", "Division number"),
        ("twinfield", "Office code"),
    ]


def test_each_managing_environment_has_its_own_link(session: Session, pair: Pair) -> None:
    firm_token = link_token(session, pair.accountant, pair)
    own_token = link_token(session, pair.client_admin, pair)
    assert firm_token != own_token
    assert client_connect.link_view(session, token=own_token).firm_name == "Korenbloem Holding"
    assert client_connect.link_view(session, token=firm_token).firm_name == "Lovelace Accounting"


def test_two_tabs_creating_the_link_at_once_make_one_link(
    engine: Engine, session: Session, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_until_both_arrive(monkeypatch, client_connect, "_add_link")

    def create_link(actor: User) -> Callable[[Session], ClientConnectLink]:
        return lambda own: client_connect.ensure_link(
            own, actor=actor, organisation_id=pair.client_organisation.id
        )

    results = run_together(engine, create_link(pair.accountant), create_link(pair.firm_admin))

    assert all(isinstance(result, ClientConnectLink) for result in results), results
    assert results[0].id == results[1].id
    assert count(session, ClientConnectLink) == 1
    assert len(activities(session, action="client_connect.link_created")) == 1


def test_regenerating_revokes_the_old_link_at_once(
    session: Session, pair: Pair, published: list[int]
) -> None:
    old = link_token(session, pair.accountant, pair)
    published.clear()

    client_connect.regenerate_link(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )

    new = token_of(
        client_connect.client_connect_view(
            session, actor=pair.accountant, organisation_id=pair.client_organisation.id
        ).link_url
    )
    assert new != old
    revoked, current = session.exec(select(ClientConnectLink).order_by(ClientConnectLink.id)).all()  # type: ignore[arg-type]
    assert revoked.revoked_at is not None and revoked.revoked_by_id == pair.accountant.id
    assert current.revoked_at is None and current.token_hash == security.hash_token(new)
    [entry] = activities(session, action="client_connect.link_regenerated")
    assert entry.summary == (
        "Ada Lovelace regenerated the Client Connect link of Bakkerij De Korenbloem; the previous link no longer works."
    )
    assert published == [pair.firm.id]
    assert client_connect.link_view(session, token=new).organisation_name == "Bakkerij De Korenbloem"

    before = snapshot(session)
    with pytest.raises(InvalidToken) as looked_up:
        client_connect.link_view(session, token=old)
    with pytest.raises(InvalidToken) as connected:
        connect(session, old)
    assert looked_up.value.message == connected.value.message == LINK_GONE
    assert snapshot(session) == before


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43, "y" * 500])
def test_an_unknown_link_says_only_that_it_no_longer_works(session: Session, pair: Pair, token: str) -> None:
    link_token(session, pair.accountant, pair)
    before = snapshot(session)
    with pytest.raises(InvalidToken) as looked_up:
        client_connect.link_view(session, token=token)
    with pytest.raises(InvalidToken) as connected:
        connect(session, token)
    assert looked_up.value.message == connected.value.message == "This link no longer works."
    assert snapshot(session) == before


# --- who may do what ------------------------------------------------------------------------------


def _every_manager_action(session: Session, actor: User, organisation_id: int) -> list[Callable[[], object]]:
    exact = session.exec(select(SoftwarePackage).where(SoftwarePackage.slug == "exact-online")).one()
    return [
        lambda: client_connect.ensure_link(session, actor=actor, organisation_id=organisation_id),
        lambda: client_connect.regenerate_link(session, actor=actor, organisation_id=organisation_id),
        lambda: client_connect.ask_owner_to_connect(
            session,
            actor=actor,
            organisation_id=organisation_id,
            package_id=exact.id,
            owner_email="o@example.com",
        ),
    ]


@pytest.mark.parametrize("role", [Role.USER.value, BLOCKED])
def test_a_plain_user_of_the_own_environment_sees_connections_but_cannot_share(
    session: Session, pair: Pair, role: str
) -> None:
    colleague = make_actor(session, pair.client, role)
    organisation_id = pair.client_organisation.id
    token = link_token(session, pair.accountant, pair)
    connect(session, token)
    before = snapshot(session)

    if role == BLOCKED:
        with pytest.raises(PermissionDenied):
            client_connect.client_connect_view(session, actor=colleague, organisation_id=organisation_id)
    else:
        view = client_connect.client_connect_view(session, actor=colleague, organisation_id=organisation_id)
        assert (view.can_manage, view.link_url, view.apps) == (False, "", [])
        assert view.not_manager_reason == client_connect.MANAGE_DENIED
        [row] = view.connections
        assert (row.package_name, row.status, row.can_disconnect) == ("Exact Online", "Connected", False)
    for attempt in _every_manager_action(session, colleague, organisation_id):
        with pytest.raises(PermissionDenied):
            attempt()
    [connection] = connections(session)
    with pytest.raises(PermissionDenied):
        client_connect.disconnect(session, actor=colleague, connection_id=connection.id)
    assert snapshot(session) == before


def test_another_environment_or_a_plain_partner_user_reaches_nothing(session: Session, pair: Pair) -> None:
    stranger_environment = make_environment(session, name="Elsewhere BV")
    stranger = make_admin(session, stranger_environment)
    plain_partner = make_user(session, pair.firm, role=Role.USER.value)
    make_membership(session, plain_partner, pair.client_organisation)
    token = link_token(session, pair.accountant, pair)
    connect(session, token)
    [connection] = connections(session)
    before = snapshot(session)

    for actor in (stranger, plain_partner):
        with pytest.raises(NotFound) as refused:
            client_connect.client_connect_view(
                session, actor=actor, organisation_id=pair.client_organisation.id
            )
        assert refused.value.message == "This organisation does not exist or you have no access to it."
        for attempt in _every_manager_action(session, actor, pair.client_organisation.id):
            with pytest.raises(NotFound):
                attempt()
        with pytest.raises(NotFound):
            client_connect.disconnect(session, actor=actor, connection_id=connection.id)
    with pytest.raises(NotFound):
        client_connect.client_connect_view(session, actor=pair.accountant, organisation_id=999_999)
    assert snapshot(session) == before


def test_an_ended_partnership_stops_the_firm_and_its_link(session: Session, pair: Pair) -> None:
    token = link_token(session, pair.accountant, pair)
    connect(session, token)
    [connection] = connections(session)
    assert pair.partnership is not None
    end_partnership_row(session, pair.partnership)
    before = snapshot(session)

    with pytest.raises(NotFound):
        client_connect.client_connect_view(
            session, actor=pair.accountant, organisation_id=pair.client_organisation.id
        )
    for attempt in _every_manager_action(session, pair.accountant, pair.client_organisation.id):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(NotFound):
        client_connect.disconnect(session, actor=pair.accountant, connection_id=connection.id)
    with pytest.raises(InvalidToken) as looked_up:
        client_connect.link_view(session, token=token)
    assert looked_up.value.message == LINK_GONE
    with pytest.raises(InvalidToken):
        connect(session, token, administration="7654321")
    assert snapshot(session) == before


def test_an_organisation_must_be_activated_before_its_link_is_shared(session: Session, pair: Pair) -> None:
    draft = make_organisation(session, pair.client, name="Nieuw BV")
    make_membership(session, pair.client_admin, draft, role=MembershipRole.ADMINISTRATOR.value)
    before = snapshot(session)
    view = client_connect.client_connect_view(session, actor=pair.client_admin, organisation_id=draft.id)
    assert (view.can_manage, view.not_manager_reason) == (False, client_connect.NOT_ACTIVATED)
    with pytest.raises(PermissionDenied) as refused:
        client_connect.ensure_link(session, actor=pair.client_admin, organisation_id=draft.id)
    assert refused.value.message == "Activate this organisation before you share its Client Connect link."
    assert snapshot(session) == before


# --- asking the owner -----------------------------------------------------------------------------


def test_ask_owner_to_connect_sends_one_email_with_the_accountant_in_cc(
    session: Session, pair: Pair, packages: dict[str, SoftwarePackage]
) -> None:
    organisation_id = pair.client_organisation.id

    address = client_connect.ask_owner_to_connect(
        session,
        actor=pair.accountant,
        organisation_id=organisation_id,
        package_id=str(packages["twinfield"].id),
        owner_email="  Olga@Korenbloem.Example ",
    )

    assert address == "olga@korenbloem.example"
    [message] = outbox(session)
    assert (message.template, message.to_address, message.cc) == (
        "client_connect_invitation",
        "olga@korenbloem.example",
        "ada@lovelace.example",
    )
    assert message.subject == "Lovelace Accounting asks you to connect Twinfield for Bakkerij De Korenbloem"
    view = client_connect.client_connect_view(session, actor=pair.accountant, organisation_id=organisation_id)
    app_link = f"{view.link_url}?app=twinfield"
    assert app_link in message.text_body and app_link in message.html_body
    assert "enter your office code" in message.text_body
    assert "Ada Lovelace (ada@lovelace.example) receives a copy" in message.text_body
    # The link was made with the email (nobody had created it yet), in the same transaction.
    assert len(activities(session, action="client_connect.link_created")) == 1
    asked = activities(session, action="client_connect.owner_asked")
    assert sorted((entry.environment_id, entry.summary) for entry in asked) == sorted(
        [
            (
                pair.firm.id,
                "Ada Lovelace asked olga@korenbloem.example to connect Twinfield to Bakkerij De Korenbloem.",
            ),
            (
                pair.client.id,
                "Ada Lovelace of Lovelace Accounting asked olga@korenbloem.example to connect Twinfield to "
                "Bakkerij De Korenbloem.",
            ),
        ]
    )


def test_asking_oneself_sends_no_cc(
    session: Session, pair: Pair, packages: dict[str, SoftwarePackage]
) -> None:
    client_connect.ask_owner_to_connect(
        session,
        actor=pair.accountant,
        organisation_id=pair.client_organisation.id,
        package_id=packages["afas"].id,
        owner_email="ADA@lovelace.example",
    )
    [message] = outbox(session)
    assert (message.to_address, message.cc) == ("ada@lovelace.example", "")


@pytest.mark.parametrize(
    ("owner_email", "package", "errors"),
    [
        ("", "exact-online", {"owner_email": "Enter an email address."}),
        (
            "not-an-address",
            "exact-online",
            {"owner_email": "Enter a valid email address, like name@example.com."},
        ),
        ("olga@korenbloem.example", "unknown", {"package": "Choose one of the available apps."}),
    ],
)
def test_a_bad_ask_changes_nothing(
    session: Session,
    pair: Pair,
    packages: dict[str, SoftwarePackage],
    owner_email: str,
    package: str,
    errors: dict,
) -> None:
    package_id = packages[package].id if package in packages else "12abc"
    before = snapshot(session)
    with pytest.raises(ValidationFailed) as refused:
        client_connect.ask_owner_to_connect(
            session,
            actor=pair.accountant,
            organisation_id=pair.client_organisation.id,
            package_id=package_id,  # type: ignore[arg-type]
            owner_email=owner_email,
        )
    assert refused.value.errors == errors
    assert snapshot(session) == before


def test_asking_is_rate_limited(session: Session, pair: Pair, packages: dict[str, SoftwarePackage]) -> None:
    limit = 30  # per client address an hour ("client_connect_invitation")
    for number in range(limit):
        with calling_from("192.0.2.10"):
            client_connect.ask_owner_to_connect(
                session,
                actor=pair.accountant,
                organisation_id=pair.client_organisation.id,
                package_id=packages["afas"].id,
                owner_email=f"owner{number}@example.com",
            )
    before = snapshot(session)
    with calling_from("192.0.2.10"), pytest.raises(throttle.Limited) as refused:
        client_connect.ask_owner_to_connect(
            session,
            actor=pair.accountant,
            organisation_id=pair.client_organisation.id,
            package_id=packages["afas"].id,
            owner_email="one-more@example.com",
        )
    assert refused.value.message.startswith("Too many Client Connect emails were sent. Try again in ")
    assert snapshot(session) == before
    assert len(outbox(session, template="client_connect_invitation")) == limit


# --- connecting -----------------------------------------------------------------------------------


def test_connecting_records_it_on_both_sides_and_emails_every_organisation_administrator(
    session: Session, pair: Pair, published: list[int]
) -> None:
    organisation = pair.client_organisation
    second_admin = make_user(session, pair.client, name="Karin Koren", email="karin@korenbloem.example")
    make_membership(session, second_admin, organisation, role=MembershipRole.ADMINISTRATOR.value)
    plain_member = make_user(session, pair.client, name="Mark Member", email="mark@korenbloem.example")
    make_membership(session, plain_member, organisation)
    former_admin = make_user(session, pair.client, email="former@korenbloem.example")
    make_membership(
        session,
        former_admin,
        organisation,
        role=MembershipRole.ADMINISTRATOR.value,
        status=MembershipStatus.ENDED.value,
    )
    blocked_admin = make_user(
        session, pair.client, email="blocked@korenbloem.example", status=UserStatus.BLOCKED.value
    )
    make_membership(session, blocked_admin, organisation, role=MembershipRole.ADMINISTRATOR.value)
    token = link_token(session, pair.accountant, pair)
    published.clear()

    outcome = connect(
        session, token, name="  Olga   Owner ", email="Olga@Korenbloem.example", administration=" 123 4567 "
    )

    assert outcome.created
    assert (outcome.package_name, outcome.organisation_name, outcome.firm_name) == (
        "Exact Online",
        "Bakkerij De Korenbloem",
        "Lovelace Accounting",
    )
    [connection] = connections(session)
    assert (connection.organisation_id, connection.environment_id, connection.status) == (
        organisation.id,
        pair.firm.id,
        "Connected",
    )
    assert (connection.connected_by_name, connection.connected_by_email) == (
        "Olga Owner",
        "olga@korenbloem.example",
    )
    assert json.loads(connection.details) == {"label": "Division number", "value": "1234567"}
    link = session.exec(select(ClientConnectLink)).one()
    assert connection.link_id == link.id and link.revoked_at is None

    entries = activities(session, action="app_connection.connected")
    assert sorted(entry.environment_id for entry in entries) == sorted([pair.firm.id, pair.client.id])
    assert {entry.summary for entry in entries} == {
        "Olga Owner (olga@korenbloem.example) connected Exact Online to Bakkerij De Korenbloem through the "
        "Client Connect link of Lovelace Accounting."
    }
    assert all(entry.actor_user_id is None and entry.subject_id == organisation.id for entry in entries)
    emails = outbox(session, template="app_connected")
    assert sorted(message.to_address for message in emails) == [
        "karin@korenbloem.example",
        "kees@korenbloem.example",
    ]
    assert all(message.cc == "" for message in emails)
    kees = next(message for message in emails if message.to_address == "kees@korenbloem.example")
    assert kees.subject == "Exact Online was connected to Bakkerij De Korenbloem"
    assert "Olga Owner (olga@korenbloem.example) connected Exact Online" in kees.text_body
    assert "Division number 1234567" in kees.text_body and "Division number 1234567" in kees.html_body
    assert f"http://localhost:3000/organisations/{organisation.id}" in kees.text_body
    told = notifications(session, kind="app_connection.connected")
    assert sorted((n.environment_id, n.user_id) for n in told) == sorted(
        [(pair.client.id, None), (pair.firm.id, pair.accountant.id), (pair.firm.id, pair.firm_admin.id)]
    )
    assert sorted(published) == sorted([pair.firm.id, pair.client.id])

    # Both sides see it, with who connected it and when.
    for actor in (pair.accountant, pair.client_admin):
        [row] = client_connect.client_connect_view(
            session, actor=actor, organisation_id=organisation.id
        ).connections
        assert (row.package_name, row.detail, row.status, row.connected_by_name, row.connected_by_email) == (
            "Exact Online",
            "Division number 1234567",
            "Connected",
            "Olga Owner",
            "olga@korenbloem.example",
        )
        assert (row.firm_name, row.can_disconnect) == ("Lovelace Accounting", True)
        assert row.connected_at == connection.connected_at


def test_a_double_click_or_a_second_tab_never_makes_two_connections(session: Session, pair: Pair) -> None:
    token = link_token(session, pair.accountant, pair)
    first = connect(session, token)
    before = snapshot(session)

    again = connect(session, token, email="OLGA@korenbloem.example", administration="1234567 ")

    assert not again.created and again.connection.id == first.connection.id
    assert snapshot(session) == before


def test_two_identical_submissions_at_the_same_moment_make_one_connection(
    engine: Engine, session: Session, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = link_token(session, pair.accountant, pair)
    hold_until_both_arrive(monkeypatch, client_connect, "_usable_link")

    results = run_together(engine, lambda own: connect(own, token), lambda own: connect(own, token))

    assert all(isinstance(result, client_connect.ConnectOutcome) for result in results), results
    assert sorted(result.created for result in results) == [False, True]
    assert len(connections(session)) == 1
    assert len(outbox(session, template="app_connected")) == 1
    assert len(activities(session, action="app_connection.connected")) == 2


def test_a_connect_racing_a_regenerate_is_decided_once(
    engine: Engine, session: Session, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = link_token(session, pair.accountant, pair)
    # Both pass their checks (the connect finds the link, the regenerate its manager) before
    # either writes: the claim on the link row decides.
    together = threading.Barrier(2, timeout=20)
    for name in ("_usable_link", "_require_manager"):
        original = getattr(client_connect, name)

        def waiting(*args: object, _original: Callable[..., object] = original, **kwargs: object) -> object:
            together.wait()
            return _original(*args, **kwargs)

        monkeypatch.setattr(client_connect, name, waiting)

    connected, regenerated = run_together(
        engine,
        lambda own: connect(own, token),
        lambda own: client_connect.regenerate_link(
            own, actor=pair.accountant, organisation_id=pair.client_organisation.id
        ),
    )

    assert isinstance(regenerated, ClientConnectLink), regenerated
    links = session.exec(select(ClientConnectLink).order_by(ClientConnectLink.id)).all()  # type: ignore[arg-type]
    assert [link.revoked_at is None for link in links] == [False, True]
    if isinstance(connected, InvalidToken):  # the regenerate came first: nothing was connected
        assert connected.message == LINK_GONE
        assert connections(session) == []
    else:  # the connect came first, through the link that was current then
        assert isinstance(connected, client_connect.ConnectOutcome) and connected.created, connected
        [connection] = connections(session)
        assert connection.link_id == links[0].id


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"software_package": ""}, {"software_package": "Choose the software package to connect."}),
        (
            {"software_package": "wordperfect"},
            {"software_package": "Choose the software package to connect."},
        ),
        ({"administration": ""}, {"administration": "Enter the division number."}),
        ({"administration": "12ab"}, {"administration": "A division number has digits only, e.g. 1234567."}),
        ({"administration": "1" * 11}, {"administration": "A division number has at most 10 characters."}),
        (
            {"software_package": "twinfield", "administration": "NLA#1"},
            {"administration": "An office code has letters, digits, '-' or '_' only, e.g. NLA001234."},
        ),
        (
            {"software_package": "octopus", "administration": ""},
            {"administration": "Enter the dossier number."},
        ),
        (
            {"software_package": "afas", "administration": "adm 01?"},
            {"administration": "Use letters, digits, '.', '-', '_' or '/' only, e.g. 1001 or ADM-01."},
        ),
        ({"name": "   "}, {"name": "Enter your name."}),
        ({"email": "olga@"}, {"email": "Enter a valid email address, like name@example.com."}),
        ({"agreed": False}, {"terms": "Agree to the terms to connect."}),
        (
            {"software_package": "", "name": "", "email": "", "agreed": False},
            {
                "software_package": "Choose the software package to connect.",
                "name": "Enter your name.",
                "email": "Enter an email address.",
                "terms": "Agree to the terms to connect.",
            },
        ),
    ],
)
def test_bad_input_gets_a_message_per_field_and_changes_nothing(
    session: Session, pair: Pair, overrides: dict, errors: dict
) -> None:
    token = link_token(session, pair.accountant, pair)
    before = snapshot(session)
    with pytest.raises(ValidationFailed) as refused:
        connect(session, token, **overrides)
    assert refused.value.errors == errors
    assert snapshot(session) == before


def test_each_package_asks_for_its_own_number(session: Session, pair: Pair) -> None:
    token = link_token(session, pair.accountant, pair)
    connect(session, token, software_package="Twinfield", administration="nla-001234")
    connect(session, token, software_package="other", administration="ADM/2024.1")
    details = [json.loads(connection.details) for connection in connections(session)]
    assert details == [
        {"label": "Office code", "value": "nla-001234"},
        {"label": "Administration number", "value": "ADM/2024.1"},
    ]


def test_connecting_is_rate_limited_per_client(session: Session, pair: Pair) -> None:
    token = link_token(session, pair.accountant, pair)
    limit = 10  # connections per client address an hour ("client_connect")
    with calling_from("198.51.100.7"):
        for number in range(limit):
            connect(session, token, administration=str(1000 + number))
        before = snapshot(session)
        with pytest.raises(throttle.Limited) as refused:
            connect(session, token, administration="99999")
    assert refused.value.message.startswith("Too many apps were connected. Try again in ")
    assert snapshot(session) == before
    # Another client address is not held back by this one.
    with calling_from("198.51.100.8"):
        assert connect(session, token, administration="99999").created


def test_opening_the_page_is_rate_limited_per_client(session: Session, pair: Pair) -> None:
    token = link_token(session, pair.accountant, pair)
    with calling_from("203.0.113.9"):
        for _ in range(300):
            client_connect.link_view(session, token=token)
        with pytest.raises(throttle.Limited) as refused:
            client_connect.link_view(session, token=token)
        with pytest.raises(throttle.Limited):
            connect(session, token)
    assert refused.value.message.startswith("Too many requests. Try again in ")
    assert connections(session) == []


# --- disconnecting --------------------------------------------------------------------------------


def test_disconnecting_keeps_the_connection_as_history_on_both_sides(
    session: Session, pair: Pair, published: list[int]
) -> None:
    token = link_token(session, pair.accountant, pair)
    outcome = connect(session, token)
    published.clear()

    client_connect.disconnect(session, actor=pair.accountant, connection_id=outcome.connection.id)

    stored = fresh(session, AppConnection, outcome.connection.id)
    assert (stored.status, stored.disconnected_by_id) == ("Disconnected", pair.accountant.id)
    assert stored.disconnected_at is not None
    entries = activities(session, action="app_connection.disconnected")
    assert sorted((entry.environment_id, entry.summary) for entry in entries) == sorted(
        [
            (pair.firm.id, "Ada Lovelace disconnected Exact Online from Bakkerij De Korenbloem."),
            (
                pair.client.id,
                "Ada Lovelace of Lovelace Accounting disconnected Exact Online from Bakkerij De Korenbloem.",
            ),
        ]
    )
    assert sorted(published) == sorted([pair.firm.id, pair.client.id])
    [row] = client_connect.client_connect_view(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id
    ).connections
    assert (row.status, row.disconnected_by, row.can_disconnect) == ("Disconnected", "Ada Lovelace", False)

    before = snapshot(session)
    with pytest.raises(Conflict) as again:
        client_connect.disconnect(session, actor=pair.client_admin, connection_id=outcome.connection.id)
    assert again.value.message == "This app is already disconnected."
    assert snapshot(session) == before
    # The owner may connect it again through the link: a new connection, the old one stays.
    assert connect(session, token).created
    assert [connection.status for connection in connections(session)] == ["Disconnected", "Connected"]


def test_a_partner_sees_and_disconnects_only_what_came_through_its_own_link(
    session: Session, pair: Pair
) -> None:
    own = connect(
        session, link_token(session, pair.client_admin, pair), software_package="afas", administration="7"
    )
    through_firm = connect(session, link_token(session, pair.accountant, pair))

    firm_view = client_connect.client_connect_view(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )
    client_view = client_connect.client_connect_view(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id
    )
    assert [row.connection_id for row in firm_view.connections] == [through_firm.connection.id]
    assert sorted(row.connection_id for row in client_view.connections) == sorted(
        [own.connection.id, through_firm.connection.id]
    )
    before = snapshot(session)
    with pytest.raises(NotFound):
        client_connect.disconnect(session, actor=pair.accountant, connection_id=own.connection.id)
    assert snapshot(session) == before
    # The organisation's own environment may disconnect what a partner's link connected.
    client_connect.disconnect(session, actor=pair.client_admin, connection_id=through_firm.connection.id)
    assert fresh(session, AppConnection, through_firm.connection.id).status == "Disconnected"


def test_unknown_connection_ids_are_not_found(session: Session, pair: Pair) -> None:
    for connection_id in (0, -1, 999_999, 2**40):
        with pytest.raises(NotFound):
            client_connect.disconnect(session, actor=pair.accountant, connection_id=connection_id)


def test_organisation_administrators_are_the_active_administrator_members(
    session: Session, pair: Pair
) -> None:
    environment_admin_only = make_admin(session, pair.client, email="env-admin@korenbloem.example")
    assert environment_admin_only.role == Role.ADMINISTRATOR.value
    partner_admin_member = make_user(
        session, pair.firm, role=Role.ADVANCED_USER.value, email="pa@lovelace.example"
    )
    make_membership(
        session, partner_admin_member, pair.client_organisation, role=MembershipRole.ADMINISTRATOR.value
    )
    invited = make_user(session, pair.client, email="invited@korenbloem.example")
    make_membership(
        session,
        invited,
        pair.client_organisation,
        role=MembershipRole.ADMINISTRATOR.value,
        status=MembershipStatus.INVITED.value,
    )
    found = client_connect.organisation_administrators(session, organisation_id=pair.client_organisation.id)
    assert [user.email for user in found] == ["kees@korenbloem.example", "pa@lovelace.example"]
    assert count(session, Membership) >= 3
