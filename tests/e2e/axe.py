"""Accessibility checks of the page a person sees, with axe-core (axe-playwright-python).

`audit(page, name)` waits until the page has settled (its h1 shown, no spinner left), runs axe-core
on the whole document and returns one line per problem that blocks people: every violation with
impact serious or critical (rule id, impact, help text and the CSS targets of the elements), and a
page whose structure is wrong (not exactly one `main` landmark, or not exactly one h1 outside
an open dialog). Moderate and
minor findings are printed (pytest shows them with -s or on failure), not returned.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

BLOCKING_IMPACTS = ("serious", "critical")
# Radix dialogs and toasts fade in: axe must see their final colours, so wait until no animation
# or transition is running any more (polled by Playwright, not slept).
NOTHING_ANIMATING = "document.getAnimations().every((animation) => animation.playState !== 'running')"

_axe = Axe()


def _settle(page: Page) -> None:
    page.wait_for_load_state("load")
    expect(page.locator("h1").first).to_be_visible()
    expect(page.locator(".rt-Spinner:visible")).to_have_count(0)
    page.wait_for_function(NOTHING_ANIMATING)


def _targets(violation: dict) -> str:
    return "; ".join(" ".join(map(str, node["target"])) for node in violation["nodes"])


def audit(page: Page, name: str) -> list[str]:
    """The blocking accessibility problems of ``page`` as it is now (see the module docstring)."""
    _settle(page)
    where = f"{name} ({page.url})"
    problems = []
    for violation in _axe.run(page).response["violations"]:
        line = (
            f"{where}: {violation['id']} [{violation['impact']}] {violation['help']}: {_targets(violation)}"
        )
        if violation["impact"] in BLOCKING_IMPACTS:
            problems.append(line)
        else:
            print("not blocking:", line)
    # An open dialog's title is the dialog's own heading (the page behind it is inert).
    headings = page.locator("h1:not([role=dialog] *, [role=alertdialog] *)").all_inner_texts()
    if len(headings) != 1:
        problems.append(f"{where}: {len(headings)} h1 headings instead of one: {headings}")
    mains = page.locator("main, [role=main]").count()
    if mains != 1:
        problems.append(f"{where}: {mains} main landmarks instead of one")
    return problems
