"""The page frames: a sidebar + header layout for signed-in pages, a centred card for the rest."""

from __future__ import annotations

import reflex as rx

from econnect_app import i18n, routes
from econnect_app.components.email_confirmation_notice import email_confirmation_notice
from econnect_app.components.forms import shown
from econnect_app.components.notifications import notification_bell
from econnect_app.components.translated import Text, t, t_choice
from econnect_app.state.auth import AuthState

BRAND = "eConnect"


def _nav_link(label: Text, href: str, icon: str) -> rx.Component:
    path = AuthState.router.url.path
    active = (path == href) | (path == href + "/")  # production serves /dashboard/
    return rx.link(
        rx.hstack(rx.icon(icon, size=18), rx.text(label, size="3"), spacing="3", align="center"),
        href=href,
        underline="none",
        padding_x="12px",
        padding_y="8px",
        border_radius="var(--radius-3)",
        width="100%",
        color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 12)),
        background=rx.cond(active, rx.color("accent", 3), "transparent"),
        _hover={"background": rx.color("accent", 3)},
        aria_current=rx.cond(active, "page", "false"),
    )


def _navigation() -> rx.Component:
    """Only what the user's role may use."""
    return rx.el.nav(
        rx.vstack(
            _nav_link(t("Dashboard"), routes.DASHBOARD, "layout-dashboard"),
            _nav_link(t("Activity"), routes.ACTIVITY, "activity"),  # every role (services/activity_log.py)
            _nav_link(t("Organisations"), routes.ORGANISATIONS, "building-2"),
            rx.cond(
                AuthState.can_manage_partnerships,
                rx.fragment(
                    _nav_link(t("Partners"), routes.PARTNERS, "handshake"),
                    _nav_link(t("Authorisations"), routes.AUTHORISATIONS, "send"),
                    # A client that never asked anyone for access has no keys to copy.
                    rx.cond(
                        ~AuthState.client_only, _nav_link(t("Connection keys"), routes.KEYS, "key-round")
                    ),
                    rx.cond(
                        ~AuthState.client_only, _nav_link(t("Configurations"), routes.CONFIGURATIONS, "plug")
                    ),
                ),
            ),
            rx.cond(
                AuthState.is_admin,
                rx.fragment(
                    _nav_link(t("Users"), routes.USERS, "users"),
                    _nav_link(t("Settings"), routes.SETTINGS, "settings"),
                ),
            ),
            _nav_link(t("My profile"), routes.PROFILE, "circle-user"),
            spacing="1",
            width="100%",
        ),
        aria_label=t("Main"),
        width="100%",
    )


def _brand() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("link-2", size=22, color=rx.color("accent", 9)),
            rx.text(BRAND, size="5", weight="bold"),  # not a heading: the page title is the one h1
            align="center",
            spacing="2",
        ),
        href=routes.DASHBOARD,
        underline="none",
        color=rx.color("gray", 12),
    )


def _sidebar() -> rx.Component:
    # A complementary landmark: the brand and the environment are in a landmark too.
    return rx.el.aside(
        rx.vstack(
            _brand(),
            rx.box(
                rx.text(t("Environment"), size="1", color_scheme="gray"),
                rx.text(AuthState.environment_name, size="2", weight="medium", id="environment-name"),
                rx.badge(AuthState.environment_plan, variant="soft", size="1"),
                width="100%",
            ),
            rx.separator(),
            _navigation(),
            spacing="5",
            width="100%",
        ),
        display=["none", "none", "block"],
        width="240px",
        min_width="240px",
        padding="20px 16px",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        min_height="100vh",
        position="sticky",
        top="0",
    )


def _mobile_menu() -> rx.Component:
    return rx.box(
        rx.drawer.root(
            rx.drawer.trigger(rx.icon_button(rx.icon("menu"), variant="ghost", aria_label=t("Open menu"))),
            rx.drawer.overlay(),
            rx.drawer.portal(
                rx.drawer.content(
                    rx.vstack(_brand(), rx.separator(), _navigation(), spacing="4", padding="20px"),
                    width="260px",
                    height="100%",
                    background=rx.color("gray", 1),
                )
            ),
            direction="left",
        ),
        display=["block", "block", "none"],
    )


def _user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.avatar(fallback=AuthState.user_initials, size="2", radius="full"),
                rx.vstack(
                    rx.text(AuthState.user_name, size="2", weight="medium"),
                    rx.text(
                        t_choice(
                            AuthState.user_role,
                            (i18n.N_("User"), i18n.N_("Advanced user"), i18n.N_("Administrator")),
                        ),
                        size="1",
                        color_scheme="gray",
                        id="user-role",
                    ),
                    spacing="0",
                    align="start",
                    display=["none", "flex"],
                ),
                variant="ghost",
                aria_label=t("Account menu"),
                height="auto",
                padding="4px 8px",
            )
        ),
        rx.menu.content(
            rx.menu.item(rx.text(AuthState.user_email, size="2", color_scheme="gray"), disabled=True),
            rx.menu.separator(),
            rx.menu.item(t("My profile"), on_click=rx.redirect(routes.PROFILE)),
            rx.menu.item(t("Log out"), on_click=AuthState.log_out, color_scheme="red"),
        ),
    )


def header_extras() -> list[rx.Component]:
    """Components shown in the header before the account menu (e.g. notifications)."""
    return [notification_bell()]


def _header(title: Text) -> rx.Component:
    return rx.el.header(
        rx.hstack(
            rx.hstack(
                _mobile_menu(), rx.heading(shown(title), size="6", as_="h1"), align="center", spacing="3"
            ),
            rx.spacer(),
            rx.hstack(
                rx.cond(
                    AuthState.is_relationship_manager, rx.badge(t("Relationship manager"), variant="outline")
                ),
                *header_extras(),
                _user_menu(),
                align="center",
                spacing="3",
            ),
            align="center",
            width="100%",
        ),
        padding="16px 24px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        position="sticky",
        top="0",
        z_index="10",
    )


def app_layout(title: Text, *children: rx.Component) -> rx.Component:
    """Signed-in page frame: sidebar, header with environment/user/role, and the content."""
    return rx.cond(
        AuthState.signed_in,
        rx.hstack(
            _sidebar(),
            rx.box(
                _header(title),
                rx.el.main(
                    rx.vstack(
                        email_confirmation_notice(), *children, spacing="5", width="100%", max_width="1100px"
                    ),
                    padding=["16px", "24px", "32px"],
                ),
                flex="1",
                min_width="0",
            ),
            spacing="0",
            align="start",
            width="100%",
        ),
        rx.center(rx.spinner(size="3"), height="100vh", aria_label=t("Loading")),
    )


def public_layout(title: Text, *children: rx.Component, subtitle: Text = "") -> rx.Component:
    """A centred card for log-in, sign-up and the emailed-link pages (the whole page is its main landmark)."""
    return rx.el.main(
        _public_page(title, *children, subtitle=subtitle),
    )


def _public_page(title: Text, *children: rx.Component, subtitle: Text) -> rx.Component:
    title, subtitle = shown(title), shown(subtitle)
    return rx.center(
        rx.vstack(
            rx.hstack(
                rx.icon("link-2", size=28, color=rx.color("accent", 9)),
                rx.text(BRAND, size="7", weight="bold"),
                align="center",
                spacing="2",
            ),
            rx.card(
                rx.vstack(
                    rx.heading(title, size="6", as_="h1"),
                    rx.cond(subtitle != "", rx.text(subtitle, color_scheme="gray", size="2")),
                    *children,
                    spacing="4",
                    width="100%",
                ),
                size="4",
                width="100%",
            ),
            spacing="5",
            align="center",
            width="100%",
            max_width="440px",
        ),
        min_height="100vh",
        padding="24px",
        background=rx.color("gray", 2),
    )


def empty_state(icon: str, title: Text, text: Text, *actions: rx.Component) -> rx.Component:
    """What to show when a list is empty: what it is and what to do next."""
    title, text = shown(title), shown(text)
    return rx.center(
        rx.vstack(
            rx.icon(icon, size=36, color=rx.color("gray", 8)),
            rx.text(title, weight="medium", size="3"),
            rx.text(text, color_scheme="gray", size="2", text_align="center"),
            *actions,
            align="center",
            spacing="2",
            max_width="420px",
        ),
        padding="40px 16px",
        width="100%",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-4)",
    )


def section_card(title: Text, *children: rx.Component, description: Text = "") -> rx.Component:
    """A titled card for one part of a page."""
    title, description = shown(title), shown(description)
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4", as_="h2"),
            rx.cond(description != "", rx.text(description, color_scheme="gray", size="2")),
            *children,
            spacing="4",
            width="100%",
        ),
        width="100%",
        size="3",
    )


def loading_or_problem(
    loaded: rx.Var,
    problem: rx.Var,
    content: rx.Component,
    *,
    loading_label: Text,
    back_label: Text,
    back_href: str,
) -> rx.Component:
    """A page's content once loaded, or why it cannot be shown (e.g. the user lost access) with a
    way back; a spinner until then."""
    return rx.cond(
        ~loaded,
        rx.center(rx.spinner(), padding="24px", aria_label=shown(loading_label)),
        rx.cond(
            problem != "",
            rx.vstack(
                rx.callout(problem, icon="lock", color_scheme="amber", role="alert", width="100%"),
                rx.link(shown(back_label), href=back_href),
                spacing="3",
            ),
            content,
        ),
    )
