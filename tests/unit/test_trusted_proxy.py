"""Which address counts as the client's (the throttles key on it): the connection's peer, unless
ECONNECT_TRUSTED_PROXY_HOPS says how many proxies in front of the backend append to X-Forwarded-For.

Loads rxconfig.py as `reflex run` does and builds the router data of a websocket connection with
Reflex's own code (`EventNamespace._build_static_router_data`), so a header a client sends itself
is shown to be ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import reflex.app
from reflex.app import EventNamespace
from reflex_base.config import Config, _get_config

from econnect_app.settings import PROJECT_ROOT, get_settings

PEER = "10.1.2.3"


@pytest.fixture()
def load_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`load_config(hops)` -> the app's Reflex config with ECONNECT_TRUSTED_PROXY_HOPS=hops (None: unset)."""
    monkeypatch.delenv("REFLEX_TRUSTED_PROXY_HOPS", raising=False)

    def load(hops: str | None) -> Config:
        if hops is None:
            monkeypatch.delenv("ECONNECT_TRUSTED_PROXY_HOPS", raising=False)
        else:
            monkeypatch.setenv("ECONNECT_TRUSTED_PROXY_HOPS", hops)
        get_settings.cache_clear()
        return _get_config(PROJECT_ROOT)

    yield load
    monkeypatch.undo()
    get_settings.cache_clear()


def client_ip_seen(config: Config, monkeypatch: pytest.MonkeyPatch, forwarded_for: str) -> str:
    """The client address Reflex gives a websocket from PEER carrying this X-Forwarded-For."""
    monkeypatch.setattr(reflex.app, "get_config", lambda: config)
    environ = {"asgi.scope": {"client": (PEER, 40000), "headers": [(b"x-forwarded-for", forwarded_for.encode())]}}
    router_data = EventNamespace._build_static_router_data(None, "sid", environ)  # type: ignore[arg-type]
    return router_data["ip"]


def test_x_forwarded_for_is_ignored_by_default(load_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(None)
    assert config.trusted_proxy_hops == 0
    assert client_ip_seen(config, monkeypatch, "203.0.113.9") == PEER


def test_behind_one_trusted_proxy_the_address_it_appended_counts(
    load_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config("1")
    assert config.trusted_proxy_hops == 1
    # The client wrote "198.51.100.66" itself; the proxy appended the address it saw.
    assert client_ip_seen(config, monkeypatch, "198.51.100.66, 203.0.113.9") == "203.0.113.9"


def test_behind_two_proxies_the_first_proxys_entry_counts(load_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config("2")
    assert client_ip_seen(config, monkeypatch, "198.51.100.66, 203.0.113.9, 10.0.0.5") == "203.0.113.9"
