"""Forms stay disabled until the server's state has arrived, so nothing typed early is lost.

A page is pre-rendered; the server's state (and the page's on_load handlers) arrive over the
websocket a moment later and may re-render the form. The test holds the browser's websocket
messages back (Playwright's WebSocket routing, with the real backend behind it) to make that
moment as long as it likes, instead of racing it.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, WebSocketRoute, expect


class HeldWebSocket:
    """Forwards the page's websocket to the real server, holding the page's messages until released."""

    def __init__(self) -> None:
        self.held: list[str | bytes] = []
        self.server: WebSocketRoute | None = None
        self.released = False

    def route(self, ws: WebSocketRoute) -> None:
        self.server = ws.connect_to_server()
        ws.on_message(self._from_page)

    def _from_page(self, message: str | bytes) -> None:
        if self.released and self.server is not None:
            self.server.send(message)
        else:
            self.held.append(message)

    def release(self) -> None:
        assert self.server is not None, "the page never opened its websocket"
        self.released = True
        for message in self.held:
            self.server.send(message)
        self.held.clear()


def test_a_form_waits_for_the_server_then_works(page: Page, unique_email) -> None:
    socket = HeldWebSocket()
    page.route_web_socket(re.compile(r"/_event"), socket.route)
    page.goto("/forgot-password")

    email = page.get_by_label("Email", exact=True)
    send = page.get_by_role("button", name="Send reset link")
    expect(email).to_be_disabled()
    expect(send).to_be_disabled()
    page.wait_for_function("() => true")  # one more round trip: still held, still disabled
    expect(email).to_be_disabled()

    socket.release()
    expect(email).to_be_enabled()
    email.fill(unique_email("early"))
    send.click()
    expect(page.get_by_role("status")).to_contain_text("If an account exists for")
