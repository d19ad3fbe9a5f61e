"""The app starts and a browser shows it."""

from __future__ import annotations

import re
import urllib.request

from live_app import AppServer
from playwright.sync_api import Page, expect


def test_backend_answers_ping(app_server: AppServer) -> None:
    with urllib.request.urlopen(app_server.backend_url + "/ping", timeout=10) as response:
        assert response.status == 200


def test_browser_shows_the_app(page: Page) -> None:
    page.goto("/")
    # Today "/" shows "eConnect"; later it redirects to /login or /dashboard, which show it too.
    expect(page.locator("body")).to_contain_text(re.compile("eConnect"))
