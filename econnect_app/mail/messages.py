"""Build an email (subject, plain text, HTML) from the templates in ``templates/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from econnect_app.formatting import format_date, format_datetime

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUBJECT_MAX_LENGTH = 300  # the outbox column's length


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for the outbox."""

    subject: str
    text_body: str
    html_body: str


def _date_filter(value: datetime | str) -> str:
    """``{{ moment|format_date }}``: a moment as a date in the time zone in effect (text as it is)."""
    return format_date(value) if isinstance(value, datetime) else value


def _datetime_filter(value: datetime | str | None) -> str:
    """``{{ moment|format_datetime }}``: a moment with its time and zone, in the time zone in effect."""
    return value if isinstance(value, str) else format_datetime(value)


@lru_cache(maxsize=1)
def _jinja() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["format_date"] = _date_filter
    env.filters["format_datetime"] = _datetime_filter
    return env


def clean_subject(subject: str) -> str:
    """One line (no header injection through a name with line breaks), at most 300 characters."""
    one_line = " ".join(subject.split())
    if len(one_line) > SUBJECT_MAX_LENGTH:
        return one_line[: SUBJECT_MAX_LENGTH - 1].rstrip() + "\u2026"
    return one_line


def render_message(template: str, context: dict[str, Any]) -> RenderedMessage:
    """Render ``<template>.subject.txt``, ``<template>.txt`` and ``<template>.html``.

    HTML templates extend ``_layout.html``; values are HTML-escaped there (not in text parts).
    Moments are passed as datetimes and written with the ``format_date`` / ``format_datetime``
    filters, in the time zone in effect (``formatting.in_time_zone``; ``queue_email`` sets the
    recipient's).
    """
    env = _jinja()
    subject = clean_subject(env.get_template(f"{template}.subject.txt").render(**context))
    text_body = env.get_template(f"{template}.txt").render(**context)
    html_body = env.get_template(f"{template}.html").render(**context)
    return RenderedMessage(subject=subject, text_body=text_body, html_body=html_body)
