"""Build an email (subject, plain text, HTML) from the templates in ``templates/``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUBJECT_MAX_LENGTH = 300  # the outbox column's length


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for the outbox."""

    subject: str
    text_body: str
    html_body: str


@lru_cache(maxsize=1)
def _jinja() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def clean_subject(subject: str) -> str:
    """One line (no header injection through a name with line breaks), at most 300 characters."""
    one_line = " ".join(subject.split())
    if len(one_line) > SUBJECT_MAX_LENGTH:
        return one_line[: SUBJECT_MAX_LENGTH - 1].rstrip() + "\u2026"
    return one_line


def render_message(template: str, context: dict[str, Any]) -> RenderedMessage:
    """Render ``<template>.subject.txt``, ``<template>.txt`` and ``<template>.html``.

    HTML templates extend ``_layout.html``; values are HTML-escaped there (not in text parts).
    """
    env = _jinja()
    subject = clean_subject(env.get_template(f"{template}.subject.txt").render(**context))
    text_body = env.get_template(f"{template}.txt").render(**context)
    html_body = env.get_template(f"{template}.html").render(**context)
    return RenderedMessage(subject=subject, text_body=text_body, html_body=html_body)
