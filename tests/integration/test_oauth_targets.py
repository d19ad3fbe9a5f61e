"""Dropbox and Octopus configurations against a local OAuth 2 provider started by the test.

The provider (tests/support/oauth_provider.py) stands in for Dropbox and Octopus, which cannot be
reached from here: it runs the real authorization-code flow (consent page, PKCE S256 checked at the
token step, single-use codes, refresh tokens, short-lived access tokens) and the Dropbox-style and
Octopus-style APIs the app uses. The browser's part (following the redirects, clicking Allow or
Deny) is done over HTTP with httpx, as a browser would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

from econnect_app.exports import cloud, credentials, targets
from econnect_app.exports.targets import DeliveryError
from econnect_app.models import (
    AccountingConfiguration,
    ActivityLog,
    Environment,
    OAuthAuthorisation,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import configurations, oauth_sign_in
from econnect_app.services.errors import DomainError, InvalidToken, PermissionDenied, ValidationFailed
from econnect_app.settings import get_settings
from tests.support.oauth_provider import OAuthStandIn, running_oauth_provider

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture()
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthStandIn]:
    """The stand-in, configured as both Dropbox and Octopus (ECONNECT_DROPBOX_* / _OCTOPUS_*)."""
    with running_oauth_provider() as stand_in:
        settings = dataclasses.replace(
            get_settings(), dropbox=stand_in.settings(), octopus=stand_in.settings()
        )
        monkeypatch.setattr(cloud, "get_settings", lambda: settings)
        yield stand_in


def make_user(
    session: Session, *, role: str = Role.ADMINISTRATOR.value, environment: Environment | None = None
) -> User:
    environment = environment or Environment(name="Van Dijk Accountants")
    session.add(environment)
    session.commit()
    user = User(
        environment_id=environment.id,
        email=f"{role.split()[0].lower()}-{environment.id}@example.com",
        name="Eva van Dijk",
        role=role,
        status=UserStatus.ACTIVE.value,
        password_hash="x",
        email_confirmed_at=utcnow(),
    )
    session.add(user)
    session.commit()
    return user


def browser_signs_in(authorization_url: str, *, choice: str = "allow") -> dict[str, str]:
    """What a browser does: open the provider's page, click Allow (or Deny), follow the redirect
    back; returns the query the app's callback page receives."""
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, page.text
        assert "Allow" in page.text and "Deny" in page.text
        request_id = re.search(r'name="request" value="([^"]+)"', page.text)
        assert request_id is not None
        base = f"{urlsplit(authorization_url).scheme}://{urlsplit(authorization_url).netloc}"
        answer = browser.post(
            base + "/oauth2/authorize/decision", data={"request": request_id[1], "decision": choice}
        )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith("http://localhost:3000/configurations/oauth/")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def signed_in(session: Session, user: User, target: str) -> AccountingConfiguration:
    url = oauth_sign_in.start(session, actor=user, target=target)
    callback = browser_signs_in(url)
    result = oauth_sign_in.finish(
        session, actor=user, target=target, code=callback["code"], state=callback["state"]
    )
    return session.get(AccountingConfiguration, result.configuration_id, populate_existing=True)  # type: ignore[return-value]


def database_dump(engine: Engine) -> str:
    lines: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            lines.extend(repr(tuple(row)) for row in connection.execute(table.select()))
    return "\n".join(lines)


def configuration_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(AccountingConfiguration)).one())


# --- the code flow --------------------------------------------------------------------------------


def test_the_full_code_flow_with_pkce_creates_a_configuration_that_is_finished_with_terms(
    session: Session, engine: Engine, provider: OAuthStandIn
) -> None:
    user = make_user(session)

    url = oauth_sign_in.start(session, actor=user, target="dropbox")

    query = parse_qs(urlsplit(url).query)
    assert url.startswith(provider.base_url + "/oauth2/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://localhost:3000/configurations/oauth/dropbox"]
    pending = session.exec(select(OAuthAuthorisation)).one()
    state = query["state"][0]
    assert pending.state_hash == hashlib.sha256(state.encode()).hexdigest()  # the state itself is not stored
    assert pending.code_verifier_encrypted.startswith("fernet:")
    assert timedelta(minutes=9) < pending.expires_at - pending.created_at <= timedelta(minutes=10)

    callback = browser_signs_in(url)
    assert callback["state"] == state
    result = oauth_sign_in.finish(session, actor=user, target="dropbox", code=callback["code"], state=state)

    # The provider checked the PKCE verifier against the challenge before it issued the tokens.
    assert [(grant["pkce"], grant["outcome"]) for grant in provider.grants("authorization_code")] == [
        ("verified", "issued")
    ]
    configuration = session.get(AccountingConfiguration, result.configuration_id)
    assert configuration is not None and result.new
    assert configuration.target == "dropbox" and configuration.account_name == provider.account_name
    assert configuration.terms_accepted_at is None  # not finished: not offered to clients yet
    assert configurations.usable_configurations(session, environment_id=user.environment_id) == []
    tokens = credentials.unseal(configuration.credentials_encrypted)
    assert tokens["access_token"].startswith("at_") and tokens["refresh_token"].startswith("rt_")
    assert configuration.token_expires_at is not None and configuration.token_expires_at > utcnow()
    dump = database_dump(engine)
    assert tokens["access_token"] not in dump and tokens["refresh_token"] not in dump  # encrypted at rest

    with pytest.raises(ValidationFailed) as refused:
        configurations.connect_oauth(
            session, actor=user, configuration_id=configuration.id, terms_accepted=False
        )
    assert refused.value.errors == {"terms": configurations.AGREE_TO_TERMS}

    configurations.connect_oauth(
        session,
        actor=user,
        configuration_id=configuration.id,
        terms_accepted=True,
        name="Dropbox of the firm",
    )
    usable = configurations.usable_configurations(session, environment_id=user.environment_id)
    assert [(item.name, item.target) for item in usable] == [("Dropbox of the firm", "dropbox")]
    actions = session.exec(select(ActivityLog.action).order_by(ActivityLog.id)).all()
    assert actions == ["configurations.signed_in", "configurations.created"]


def test_a_refused_consent_saves_nothing_and_says_so(session: Session, provider: OAuthStandIn) -> None:
    user = make_user(session)
    url = oauth_sign_in.start(session, actor=user, target="dropbox")

    callback = browser_signs_in(url, choice="deny")

    assert callback["error"] == "access_denied"
    with pytest.raises(DomainError) as refused:
        oauth_sign_in.finish(
            session, actor=user, target="dropbox", state=callback["state"], error=callback["error"],
            error_description=callback.get("error_description", ""),
        )  # fmt: skip
    assert (
        "You did not allow eConnect to access your Dropbox account, so nothing was saved"
        in refused.value.message
    )
    assert configuration_count(session) == 0
    assert provider.grants("authorization_code") == []
    # The state is used up: the same answer cannot be replayed with a code.
    with pytest.raises(InvalidToken):
        oauth_sign_in.finish(session, actor=user, target="dropbox", code="anything", state=callback["state"])


def test_a_reused_expired_foreign_or_unknown_state_is_refused_and_saves_nothing(
    session: Session, provider: OAuthStandIn
) -> None:
    provider.decision = "allow"
    user = make_user(session)
    colleague = make_user(
        session, environment=session.get(Environment, user.environment_id), role=Role.ADVANCED_USER.value
    )

    # Reused: the first finish succeeds, the replay of the same redirect does nothing.
    url = oauth_sign_in.start(session, actor=user, target="dropbox")
    callback = _follow(url)
    oauth_sign_in.finish(
        session, actor=user, target="dropbox", code=callback["code"], state=callback["state"]
    )
    with pytest.raises(InvalidToken) as reused:
        oauth_sign_in.finish(
            session, actor=user, target="dropbox", code=callback["code"], state=callback["state"]
        )
    assert "already used, it is older than 10 minutes" in reused.value.message
    assert configuration_count(session) == 1

    # Expired: ten minutes passed.
    url = oauth_sign_in.start(session, actor=user, target="dropbox")
    callback = _follow(url)
    pending = session.exec(select(OAuthAuthorisation).where(OAuthAuthorisation.used_at.is_(None))).one()  # type: ignore[union-attr]
    pending.expires_at = utcnow() - timedelta(seconds=1)
    session.add(pending)
    session.commit()
    with pytest.raises(InvalidToken):
        oauth_sign_in.finish(
            session, actor=user, target="dropbox", code=callback["code"], state=callback["state"]
        )

    # Someone else's (a colleague's browser), another provider's, or made up.
    url = oauth_sign_in.start(session, actor=user, target="dropbox")
    callback = _follow(url)
    with pytest.raises(InvalidToken):
        oauth_sign_in.finish(
            session, actor=colleague, target="dropbox", code=callback["code"], state=callback["state"]
        )
    with pytest.raises(InvalidToken):
        oauth_sign_in.finish(
            session, actor=user, target="octopus", code=callback["code"], state=callback["state"]
        )
    with pytest.raises(InvalidToken):
        oauth_sign_in.finish(session, actor=user, target="dropbox", code=callback["code"], state="made-up")
    # ...and none of them used it up: the right user still completes it.
    oauth_sign_in.finish(
        session, actor=user, target="dropbox", code=callback["code"], state=callback["state"]
    )
    assert configuration_count(session) == 2
    assert [grant["outcome"] for grant in provider.grants("authorization_code")] == ["issued", "issued"]


def _follow(url: str) -> dict[str, str]:
    """Auto-approve: the provider redirects back at once."""
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302
    return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def test_sign_in_needs_the_provider_settings_and_an_advanced_user(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session)
    plain = make_user(
        session, environment=session.get(Environment, user.environment_id), role=Role.USER.value
    )
    monkeypatch.setattr(
        cloud, "get_settings", lambda: dataclasses.replace(get_settings(), dropbox=None, octopus=None)
    )

    with pytest.raises(DomainError, match="Dropbox is not configured on this server."):
        oauth_sign_in.start(session, actor=user, target="dropbox")
    with pytest.raises(PermissionDenied):
        oauth_sign_in.start(session, actor=plain, target="dropbox")
    options = {option.value: option for option in configurations.target_options()}
    assert (
        options["octopus"].available is False
        and options["octopus"].note == "Octopus is not configured on this server."
    )
    assert options["sftp"].available is True
    assert session.exec(select(func.count()).select_from(OAuthAuthorisation)).one() == 0


# --- deliveries and tokens ------------------------------------------------------------------------


def test_a_document_delivered_to_a_dropbox_configuration_lands_in_the_providers_storage(
    session: Session, provider: OAuthStandIn
) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "dropbox")
    configurations.connect_oauth(session, actor=user, configuration_id=configuration.id, terms_accepted=True)

    path = targets.deliver(
        session, configuration, kind="invoice", filename="2026-12-02_7_invoice.pdf", data=PDF
    )
    again = targets.deliver(
        session, configuration, kind="invoice", filename="2026-12-02_7_invoice.pdf", data=PDF
    )
    statement = targets.deliver(session, configuration, kind="statement", filename="march.xml", data=b"<x/>")

    assert path == "invoices/2026-12-02_7_invoice.pdf"
    assert again == "invoices/2026-12-02_7_invoice (1).pdf"  # "add" with autorename: nothing overwritten
    assert statement == "statements/march.xml"
    stored = {item.path: item.data for item in provider.uploads}
    assert (
        hashlib.sha256(stored["/invoices/2026-12-02_7_invoice.pdf"]).hexdigest()
        == hashlib.sha256(PDF).hexdigest()
    )
    assert stored["/statements/march.xml"] == b"<x/>"


def test_an_expired_token_is_refreshed_before_the_delivery_and_stored_encrypted(
    session: Session, engine: Engine, provider: OAuthStandIn
) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "dropbox")
    configurations.connect_oauth(session, actor=user, configuration_id=configuration.id, terms_accepted=True)
    old = credentials.unseal(configuration.credentials_encrypted)
    # The access token's time runs out: the provider refuses it, and the app knows its expiry.
    provider.expire_access_tokens()
    configuration.token_expires_at = utcnow() - timedelta(seconds=5)
    session.add(configuration)
    session.commit()

    targets.deliver(session, configuration, kind="invoice", filename="a.pdf", data=PDF)

    assert [grant["outcome"] for grant in provider.grants("refresh_token")] == ["issued"]
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None
    new = credentials.unseal(stored.credentials_encrypted)
    assert new["access_token"] != old["access_token"] and new["refresh_token"] == old["refresh_token"]
    assert stored.token_expires_at is not None and stored.token_expires_at > utcnow()
    assert new["access_token"] not in database_dump(engine)
    assert [item.path for item in provider.uploads] == ["/invoices/a.pdf"]
    # A refresh is bookkeeping, not a change anyone made: no activity row for it.
    assert session.exec(select(ActivityLog.action).order_by(ActivityLog.id)).all() == [
        "configurations.signed_in", "configurations.created",
    ]  # fmt: skip


def test_a_token_refused_before_its_expiry_is_refreshed_once_and_the_upload_retried(
    session: Session, provider: OAuthStandIn
) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "dropbox")
    configurations.connect_oauth(session, actor=user, configuration_id=configuration.id, terms_accepted=True)
    provider.expire_access_tokens()  # the app still believes its token valid

    assert (
        targets.deliver(session, configuration, kind="invoice", filename="b.pdf", data=PDF)
        == "invoices/b.pdf"
    )
    assert len(provider.grants("refresh_token")) == 1


def test_a_revoked_sign_in_fails_the_delivery_for_good_with_a_clear_message(
    session: Session, provider: OAuthStandIn
) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "dropbox")
    configurations.connect_oauth(session, actor=user, configuration_id=configuration.id, terms_accepted=True)
    provider.revoke_refresh_tokens()

    with pytest.raises(DeliveryError) as failed:
        targets.deliver(session, configuration, kind="invoice", filename="c.pdf", data=PDF)

    assert failed.value.retryable is False
    assert "Dropbox no longer accepts this configuration's sign-in" in failed.value.message
    assert "sign in with Dropbox again" in failed.value.message
    assert provider.uploads == []


def test_a_provider_that_is_down_gives_a_retryable_failure(session: Session, provider: OAuthStandIn) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "dropbox")
    configurations.connect_oauth(session, actor=user, configuration_id=configuration.id, terms_accepted=True)
    provider.stop()

    with pytest.raises(DeliveryError) as failed:
        targets.deliver(session, configuration, kind="invoice", filename="d.pdf", data=PDF)

    assert failed.value.retryable is True
    assert "Dropbox cannot be reached" in failed.value.message


def test_signing_in_again_replaces_the_tokens_of_the_configuration(
    session: Session, provider: OAuthStandIn
) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "dropbox")
    configurations.connect_oauth(session, actor=user, configuration_id=configuration.id, terms_accepted=True)
    before = credentials.unseal(configuration.credentials_encrypted)
    provider.revoke_refresh_tokens()

    url = oauth_sign_in.start(session, actor=user, target="dropbox", configuration_id=configuration.id)
    callback = browser_signs_in(url)
    result = oauth_sign_in.finish(
        session, actor=user, target="dropbox", code=callback["code"], state=callback["state"]
    )

    assert result.configuration_id == configuration.id and not result.new
    assert configuration_count(session) == 1
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None and stored.terms_accepted_at is not None
    assert credentials.unseal(stored.credentials_encrypted)["refresh_token"] != before["refresh_token"]
    assert targets.deliver(session, stored, kind="invoice", filename="e.pdf", data=PDF) == "invoices/e.pdf"


# --- Octopus ----------------------------------------------------------------------------------------------


def test_octopus_offers_the_accounts_dossiers_and_delivers_to_the_chosen_one(
    session: Session, provider: OAuthStandIn
) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "octopus")

    listed = configurations.dossiers(session, actor=user, configuration_id=configuration.id)

    assert [(dossier.id, dossier.name) for dossier in listed] == [
        ("D-1001", "Bakkerij de Vries"),
        ("D-2002", "Garage Jansen"),
    ]
    with pytest.raises(ValidationFailed) as missing:
        configurations.connect_oauth(
            session, actor=user, configuration_id=configuration.id, terms_accepted=True
        )
    assert missing.value.errors == {"dossier": configurations.CHOOSE_DOSSIER}
    with pytest.raises(ValidationFailed) as unknown:  # not one of the account's dossiers
        configurations.connect_oauth(
            session, actor=user, configuration_id=configuration.id, terms_accepted=True, dossier_id="D-9999"
        )
    assert unknown.value.errors == {"dossier": configurations.CHOOSE_DOSSIER}
    assert configurations.usable_configurations(session, environment_id=user.environment_id) == []

    configurations.connect_oauth(
        session, actor=user, configuration_id=configuration.id, terms_accepted=True, dossier_id="D-2002"
    )
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None and (stored.dossier_id, stored.dossier_name) == ("D-2002", "Garage Jansen")
    path = targets.deliver(
        session, stored, kind="statement", filename="bank-2026-11.xml", data=b"<Statement/>"
    )

    assert path == "statements/bank-2026-11.xml"
    [upload] = provider.uploads
    assert (upload.dossier_id, upload.kind, upload.path, upload.data) == (
        "D-2002", "statement", "D-2002/bank-2026-11.xml", b"<Statement/>",
    )  # fmt: skip


def test_the_dossier_list_refreshes_an_expired_token(session: Session, provider: OAuthStandIn) -> None:
    user = make_user(session)
    configuration = signed_in(session, user, "octopus")
    provider.expire_access_tokens()
    configuration.token_expires_at = utcnow() - timedelta(minutes=1)
    session.add(configuration)
    session.commit()

    listed = configurations.dossiers(session, actor=user, configuration_id=configuration.id)

    assert len(listed) == 2
    assert len(provider.grants("refresh_token")) == 1
