"""The Reflex app: every page registered in one place; no logic here."""

import reflex as rx

import econnect_app.models  # noqa: F401  (registers the tables for migrations)

app = rx.App()


@rx.page(route="/")
def index() -> rx.Component:
    return rx.text("eConnect")
