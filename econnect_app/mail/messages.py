"""Build an email (subject, plain text, HTML) from the templates in ``templates/``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"


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


def render_message(template: str, context: dict[str, Any]) -> RenderedMessage:
    """Render ``<template>.subject.txt``, ``<template>.txt`` and ``<template>.html``."""
    env = _jinja()
    subject = env.get_template(f"{template}.subject.txt").render(**context).strip()
    text_body = env.get_template(f"{template}.txt").render(**context)
    html_body = env.get_template(f"{template}.html").render(**context)
    return RenderedMessage(subject=subject, text_body=text_body, html_body=html_body)
