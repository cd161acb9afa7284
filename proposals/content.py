"""Proposal text: limits, the discussion link, Markdown rendering (sanitized) and the revision hash.

The body is stored exactly as written (script tags included); it is only ever shown through
render_markdown(), whose output nh3 has sanitized (no script, no event handlers, no javascript: URLs).

The revision hash binds signatures (EIP-712 `revisionHash`) to one exact text:

    revision_hash = keccak256(canonical JSON of {"body", "kind", "payload", "title"})

with the archive's canonical JSON (sorted keys, no spaces, UTF-8, no floats).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from django.conf import settings
from eth_utils import keccak

from archive.verify import canonical_json
from govapp.errors import DomainError
from govapp.text import deceptive_char

DISCUSSION_URL_MAX_CHARS = 500

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}


class ContentError(DomainError):
    code = "invalid_content"
    status = 400


def clean_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ContentError("A title is required.", code="title_required", details={"field": "title"})
    title = " ".join(title.split())
    bad = deceptive_char(title)
    if bad is not None:
        raise ContentError(f"The title holds the invisible control character U+{ord(bad):04X}; remove it.",
                           code="invalid_title", details={"field": "title"})
    limit = settings.GOVERNANCE["TITLE_MAX_CHARS"]
    if len(title) > limit:
        raise ContentError(f"The title has {len(title)} characters; at most {limit} are allowed.",
                           code="title_too_long", details={"field": "title", "limit": limit})
    return title


def clean_body(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ContentError("A body (Markdown) is required.", code="body_required", details={"field": "body"})
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in body:
        raise ContentError("The body contains a NUL character.", code="invalid_body", details={"field": "body"})
    limit = settings.GOVERNANCE["BODY_MAX_CHARS"]
    if len(body) > limit:
        raise ContentError(f"The body has {len(body)} characters; at most {limit} are allowed.",
                           code="body_too_long", details={"field": "body", "limit": limit})
    return body


def clean_discussion_url(url: Any) -> str:
    """An http(s) URL with a host, or "" (no link)."""
    if url is None:
        return ""
    if not isinstance(url, str):
        raise ContentError("The discussion link must be a URL.", code="invalid_discussion_url",
                           details={"field": "discussion_url"})
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or len(url) > DISCUSSION_URL_MAX_CHARS or any(c.isspace() for c in url):
        raise ContentError("The discussion link must be an http:// or https:// URL.",
                           code="invalid_discussion_url", details={"field": "discussion_url"})
    return url


def render_markdown(body: str) -> str:
    """HTML of a Markdown body, sanitized: safe to mark safe in templates."""
    html = markdown.markdown(body, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow")


def revision_content(title: str, body: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "body": body, "kind": kind, "payload": payload}


def revision_hash(title: str, body: str, kind: str, payload: dict[str, Any]) -> str:
    """0x + 64 hex: keccak256 of the canonical JSON of the revision's content."""
    text = canonical_json(revision_content(title, body, kind, payload))
    return "0x" + keccak(text.encode("utf-8")).hex()
