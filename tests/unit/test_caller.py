"""The calling client's address, set by the web layer around one request's work."""

import threading

from econnect_app.services import caller


def test_the_address_is_known_inside_the_block_only() -> None:
    assert caller.client_address() == ""
    with caller.calling_from(" 203.0.113.9 "):
        assert caller.client_address() == "203.0.113.9"
        with caller.calling_from("198.51.100.1"):
            assert caller.client_address() == "198.51.100.1"
        assert caller.client_address() == "203.0.113.9"
    assert caller.client_address() == ""


def test_each_thread_sees_its_own_caller() -> None:
    seen: list[str] = []
    with caller.calling_from("203.0.113.9"):
        thread = threading.Thread(target=lambda: seen.append(caller.client_address()))
        thread.start()
        thread.join()
    assert seen == [""]  # a new thread starts without the caller of another request
