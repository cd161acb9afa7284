"""Statement content: the field rules, the list encoding inside the signed strings, safe Markdown.

Every rule raises a DomainError with its own code (400), so the API and the forms answer alike:

    display_name_required, display_name_too_long, statement_required, statement_too_long,
    invalid_interests, unknown_interest, duplicate_interest, invalid_links, too_many_links,
    invalid_link, duplicate_link
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3

from delegation import constants as C
from govapp.errors import DomainError
from govapp.text import deceptive_char


class StatementError(DomainError):
    code = "invalid_statement"
    status = 400


@dataclass(frozen=True)
class StatementContent:
    display_name: str
    statement: str
    interests: list[str]
    links: list[str]

    @property
    def interests_string(self) -> str:
        return encode_list(self.interests)

    @property
    def links_string(self) -> str:
        return encode_list(self.links)


def encode_list(values: list[str]) -> str:
    """The signed string form of a list: compact JSON array (see delegation.constants)."""
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def decode_list(text: Any, field: str) -> list[str]:
    """A list from its signed string form; `invalid_<field>` unless a JSON array of strings."""
    code = f"invalid_{field}"
    if not isinstance(text, str):
        raise StatementError(f"{field} must be a string holding a JSON array.", code=code)
    try:
        values = json.loads(text) if text.strip() else []
    except ValueError as exc:
        raise StatementError(f"{field} is not a JSON array of strings.", code=code) from exc
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise StatementError(f"{field} is not a JSON array of strings.", code=code)
    return values


def _has_control_chars(text: str) -> bool:
    return deceptive_char(text, allow="\n\r\t") is not None


def clean_display_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StatementError("A display name is required.", code="display_name_required")
    if value != value.strip() or _has_control_chars(value) or "\n" in value:
        raise StatementError("The display name must be one line without leading or trailing spaces.",
                             code="invalid_display_name")
    if len(value) > C.DISPLAY_NAME_MAX_CHARS:
        raise StatementError(f"The display name has {len(value)} characters; at most {C.DISPLAY_NAME_MAX_CHARS}.",
                             code="display_name_too_long")
    return value


def clean_statement(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StatementError("The statement is empty.", code="statement_required")
    if len(value) > C.STATEMENT_MAX_CHARS:
        raise StatementError(f"The statement has {len(value)} characters; at most {C.STATEMENT_MAX_CHARS}.",
                             code="statement_too_long")
    if "\x00" in value:
        raise StatementError("The statement contains a NUL character.", code="invalid_statement")
    return value


def clean_interests(values: list[str]) -> list[str]:
    seen: set[str] = set()
    for slug in values:
        if slug not in C.INTEREST_SLUGS:
            raise StatementError(f"{slug!r} is not an interest tag; use one of: {', '.join(sorted(C.INTEREST_SLUGS))}.",
                                 code="unknown_interest")
        if slug in seen:
            raise StatementError(f"The interest {slug!r} is listed twice.", code="duplicate_interest")
        seen.add(slug)
    return list(values)


def clean_link(url: str) -> str:
    if len(url) > C.LINK_MAX_CHARS:
        raise StatementError(f"A link has at most {C.LINK_MAX_CHARS} characters.", code="invalid_link")
    if url != url.strip() or any(ch.isspace() for ch in url) or _has_control_chars(url):
        raise StatementError(f"{url!r} is not a link (spaces or control characters).", code="invalid_link")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise StatementError(f"{url!r} is not a link.", code="invalid_link") from exc
    if parts.scheme not in C.LINK_SCHEMES or not parts.netloc:
        raise StatementError(f"{url!r} is not an http(s) link; only http:// and https:// links are allowed.",
                             code="invalid_link")
    return url


def clean_links(values: list[str]) -> list[str]:
    if len(values) > C.LINKS_MAX:
        raise StatementError(f"At most {C.LINKS_MAX} links.", code="too_many_links")
    cleaned = [clean_link(url) for url in values]
    if len(set(cleaned)) != len(cleaned):
        raise StatementError("A link is listed twice.", code="duplicate_link")
    return cleaned


def clean_content(display_name: Any, statement: Any, interests: list[str], links: list[str]) -> StatementContent:
    """Check every rule; returns the content (unchanged: a signed text is never rewritten)."""
    return StatementContent(
        display_name=clean_display_name(display_name),
        statement=clean_statement(statement),
        interests=clean_interests(interests),
        links=clean_links(links),
    )


# --- Markdown ----------------------------------------------------------------------------------

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    """Markdown to HTML, sanitised with nh3: no raw HTML survives, links are http(s)/mailto only."""
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow ugc",
    )
