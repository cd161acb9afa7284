"""XSS: a corpus of payloads in every user-written field, every page that shows them rendered in Chromium.

Each payload calls the sentinel `window.__xss(n)` (a Python function exposed to the page) if it ever runs.
Fields: proposal title, body (Markdown), discussion link, revision note and transition reason; vote reason;
core-developer review comment; council veto reason; delegate display name and statement (Markdown); archive
document title and text (Markdown); and reflected query strings (searches, filters).

Every page (the HTML pages, the JS-loaded fragments and the DRF browsable API views of the same data) is
rendered twice:

* with the Content-Security-Policy bypassed (Playwright `bypass_csp`), so that only the escaping and the
  sanitising stand between a payload and its execution: the sentinel must never be called, no dialog may
  open, and the DOM must hold no injected handler (`on*=`), inline <script>, `javascript:` URL or frame;
* as served (the `portal` fixture, CSP on): no CSP violation may be reported (a violation would mean
  injected markup reached the page and only the CSP stopped it).

Server side, the Markdown renderers' output for the corpus has no `on*=` attribute and no `javascript:`,
`vbscript:` or `data:text/html` URL.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from eth_account import Account

from .conftest import GENEROUS_RATE_LIMITS, World, _build, _governance_override, sign_typed

# --------------------------------------------------------------------------- the corpus

#: `{n}` is replaced by the payload's number: window.__xss(n) reports which payload ran.
PAYLOADS: tuple[str, ...] = (
    "<script>window.__xss({n})</script>",
    "<img src=x onerror=\"window.__xss({n})\">",
    "<svg onload=\"window.__xss({n})\"><circle r=1></circle></svg>",
    "<svg><script>window.__xss({n})</script></svg>",
    "\"><script>window.__xss({n})</script>",
    "'><img src=x onerror=window.__xss({n})>",
    "\" autofocus onfocus=\"window.__xss({n})\" x=\"",
    "' onmouseover='window.__xss({n})' x='",
    "[click](javascript:window.__xss({n}))",
    "[click](JaVaScRiPt:window.__xss({n}))",
    "[click](&#106;avascript&#58;window.__xss({n}))",
    "[click](\tjava\nscript:window.__xss({n}))",
    "<a href=\"javascript:window.__xss({n})\">click</a>",
    "<a href=\"data:text/html,<script>window.__xss({n})</script>\">click</a>",
    "![img](data:image/svg+xml,<svg onload=window.__xss({n})>)",
    "![img](x\" onerror=\"window.__xss({n}))",
    "<div style=\"background:url(javascript:window.__xss({n}))\">styled</div>",
    "<div style=\"width:expression(window.__xss({n}))\">styled</div>",
    "&lt;script&gt;window.__xss({n})&lt;/script&gt; &#60;img src=x onerror=window.__xss({n})&#62;",
    "</textarea><script>window.__xss({n})</script>",
    "</title><script>window.__xss({n})</script>",
    "<iframe src=\"javascript:window.__xss({n})\"></iframe>",
    "<details open ontoggle=\"window.__xss({n})\">x</details>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss({n})>",
    "<input autofocus onfocus=window.__xss({n})>",
    "<body onload=window.__xss({n})>",
    "<object data=\"javascript:window.__xss({n})\"></object>",
    "</script><script>window.__xss({n})</script>",
    "{{{{7*7}}}} {{% now 'Y' %}} ${{7*7}} #{{7*7}} <%= 7*7 %>",
)
TEMPLATE_INJECTION = "{{7*7}}"
#: Payloads aimed at the contexts a title lands in besides text (every title is on the list page): an attribute
#: breakout, <title> (RCDATA), <textarea>, <script>, and the template-injection strings (the last payload).
TITLE_CONTEXTS = (4, 20, 6, 28, 5, 7, 19, 27)


def payloads() -> list[str]:
    return [p.format(n=i) for i, p in enumerate(PAYLOADS)]


def corpus(limit: int | None = None) -> str:
    """All payloads, one paragraph each (for Markdown and multi-line fields)."""
    text = "\n\n".join(payloads())
    return text[:limit] if limit else text


# --------------------------------------------------------------------------- server side


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, [(k.lower(), v or "") for k, v in attrs]))

    handle_startendtag = handle_starttag


DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "base", "form", "input", "body",
                  "frame", "frameset", "link", "meta"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "background"}


def _scheme_of(value: str) -> str:
    cleaned = re.sub(r"[\x00-\x20]+", "", html.unescape(value)).lower()
    return cleaned.split(":", 1)[0] if ":" in cleaned else ""


def html_problems(markup: str) -> list[str]:
    """Handlers, script-ish URLs, inline styles and active tags in `markup`."""
    parser = _Elements()
    parser.feed(markup)
    problems = []
    for tag, attrs in parser.elements:
        if tag in DANGEROUS_TAGS:
            problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"<{tag} {name}=>")
            if name == "style":
                problems.append(f"<{tag} style=>")
            if name in URL_ATTRIBUTES and _scheme_of(value) in ("javascript", "vbscript", "data"):
                problems.append(f"<{tag} {name}={value[:40]}>")
    return problems


class _Page(_Elements):
    """Also collects the text of inline <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        values = dict(attrs)
        if tag == "script" and not values.get("src") and (values.get("type") or "").lower() != "application/json":
            self._in_inline_script = True
            self.inline_scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts[-1] += data


def page_problems(markup: str) -> list[str]:
    """What the DOM check looks for, on a whole page as served: the templates use no inline handler, no inline
    script and no frame (the CSP forbids them), so any of these came from data."""
    parser = _Page()
    parser.feed(markup)
    problems = [f"inline script: {text[:60]}" for text in parser.inline_scripts]
    for tag, attrs in parser.elements:
        if tag in ("iframe", "frame", "object", "embed"):
            problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"<{tag} {name}={value[:40]}>")
            if name in URL_ATTRIBUTES and _scheme_of(value) in ("javascript", "vbscript") \
                    or (name in URL_ATTRIBUTES and html.unescape(value).strip().lower().startswith("data:text/html")):
                problems.append(f"<{tag} {name}={value[:40]}>")
            if name == "style" and ("__xss" in value or "expression" in value.lower()):
                problems.append(f"<{tag} style={value[:40]}>")
    return problems


def _archive_markdown(text: str) -> str:
    """What archive.views.document_detail renders for a Markdown document."""
    import markdown
    import nh3

    return nh3.clean(markdown.markdown(text, extensions=["extra"]))


def _renderers() -> dict[str, Any]:
    from delegation.content import render_markdown as statement_markdown
    from proposals.content import render_markdown as proposal_markdown

    return {"proposal body": proposal_markdown, "delegate statement": statement_markdown,
            "archive document": _archive_markdown}


@pytest.mark.parametrize("renderer", ["proposal body", "delegate statement", "archive document"])
@pytest.mark.parametrize("n", range(len(PAYLOADS)))
def test_sanitised_markdown_has_no_handler_and_no_script_url(renderer: str, n: int) -> None:
    rendered = _renderers()[renderer](PAYLOADS[n].format(n=n))
    assert not html_problems(rendered), (PAYLOADS[n], rendered)


def test_the_whole_corpus_at_once() -> None:
    """Payloads interact (an unclosed tag swallowing the next one): the corpus as one text is clean too."""
    for name, render in _renderers().items():
        rendered = render(corpus())
        assert not html_problems(rendered), (name, rendered)
        assert "window.__xss" in rendered or "window.__xss" in html.unescape(rendered), name  # kept, as text


def test_the_checker_sees_an_injection() -> None:
    """The checks are not vacuous: unsanitised Markdown output and injected page markup are flagged."""
    import markdown

    assert html_problems(markdown.markdown(PAYLOADS[1].format(n=1)))  # <img onerror>, raw
    assert html_problems(markdown.markdown(PAYLOADS[8].format(n=8)))  # [x](javascript:...)
    assert html_problems('<a href="  jav&#x09;ascript:window.__xss(1)">x</a>')
    assert page_problems("<p><script>window.__xss(1)</script></p>")
    assert page_problems('<p title="x" onmouseover="window.__xss(1)">x</p>')
    assert not page_problems('<script type="application/json">{}</script><script src="/static/js/wallet.js"></script>')


# --------------------------------------------------------------------------- the browser

SENTINEL_SCRIPT = """
(() => {
  window.__xss = (n) => { window.__xssReport("payload " + n); };
  for (const name of ["alert", "confirm", "prompt"]) {
    window[name] = (message) => { window.__xssReport(name + "(" + message + ")"); };
  }
  document.addEventListener("securitypolicyviolation", (event) => {
    window.__cspReport(event.violatedDirective + " " + event.blockedURI + " " + (event.sample || ""));
  });
})();
"""

DOM_CHECK = """
() => {
  const bad = [];
  // A JSON data block (DRF's browsable API keeps its CSRF settings in one) never runs.
  const isData = (el) => (el.type || "").toLowerCase() === "application/json";
  const urlAttributes = ["href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "background"];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\u0000-\\u0020]+/g, "").toLowerCase();
      if (name.startsWith("on")) bad.push(el.tagName + " " + name + "=" + attr.value.slice(0, 60));
      if (urlAttributes.includes(name) && /^(javascript|vbscript|data:text\\/html)/.test(value)) {
        bad.push(el.tagName + " " + name + "=" + attr.value.slice(0, 60));
      }
    }
    if (el.tagName === "SCRIPT" && !el.src && !isData(el)) bad.push("inline script: " + el.textContent.slice(0, 60));
    if (["IFRAME", "FRAME", "OBJECT", "EMBED"].includes(el.tagName)) bad.push(el.tagName);
  }
  return bad;
}
"""

INSERT_FRAGMENT = """
async (url) => {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  const holder = document.createElement("div");
  holder.innerHTML = await response.text();
  document.body.append(holder);
  await new Promise((resolve) => setTimeout(resolve, 200));  // let an injected onerror fire
}
"""

REFLECTED = "\"><img src=x onerror=window.__xss(900)><script>window.__xss(901)</script>{{7*7}}"


def _build_payload_world(chain: Any) -> tuple[World, dict[str, Any]]:
    """The security world, then every user-written field filled with the corpus. Returns the ids to visit."""
    from archive.models import ArchiveEntry
    from archive.services import publish_document
    from delegation import services as delegation_services
    from execution import vetoes
    from proposals import selectors as proposal_selectors
    from proposals import services as proposal_services
    from voting import services as voting_services

    from .conftest import vote_typed

    world = _build(chain)
    author, staff = world.users["author"], world.users["staff"]
    texts = payloads()
    ids: dict[str, Any] = {"proposals": [], "statements": [], "documents": []}

    # Proposals: one per payload (title and body), plus the draft revised with the whole corpus.
    for text in texts:
        proposal = proposal_services.create_proposal(author, title=text[:200], body=text, kind="informational",
                                                     payload={})
        ids["proposals"].append(proposal.number)
    draft = world.number("draft")
    proposal_services.revise_proposal(
        draft, author, title=texts[4], body=corpus(),
        discussion_url="https://forum.example/t/\"><img/src=x/onerror=window.__xss(800)>?a='><b/x='",
        note=" ".join(texts[:6])[:500])
    proposal_services.user_transition(world.number("discussion"), "withdrawn", author, reason=corpus())

    # Vote reason, review comment, veto reason: the whole corpus each.
    typed = vote_typed(world, "holder", reason=corpus(5000))
    voting_services.cast_vote(typed, sign_typed(world.keys["holder"], typed))
    review = proposal_selectors.review_template(world.proposals["review"], world.address("core_dev"), True, corpus())
    proposal_services.review(world.number("review"), review, sign_typed(world.keys["core_dev"], review))
    veto = vetoes.veto_template(world.number("queued"), world.address("council"), corpus(5000))
    vetoes.submit_veto(world.number("queued"), veto, sign_typed(world.keys["council"], veto))

    # Delegate statements: a display name per payload (80 characters at most), the corpus as statement.
    for i, text in enumerate(texts):
        name = " ".join(text.split())[:80].strip() or f"name {i}"
        key = world.keys["holder"] if i == 0 else Account.create().key.to_0x_hex()
        typed = delegation_services.statement_template(Account.from_key(key).address, display_name=name,
                                                       statement=corpus(), interests=["security"],
                                                       links=["https://example.org/\"><script>x</script>"])
        statement = delegation_services.publish_statement(typed, sign_typed(key, typed))
        ids["statements"].append(statement.delegate)

    # Foundation documents: a title per payload, the corpus as Markdown text.
    for text in (texts[i] for i in TITLE_CONTEXTS[:4]):
        document = publish_document(staff, title=text[:200], category="report", date=dt.date(2026, 11, 24),
                                    text=corpus())
        ids["documents"].append(document.pk)
    # An uploaded Markdown file whose name and content type are hostile too.
    document = publish_document(staff, title="Upload", category="audit", date=dt.date(2026, 11, 24),
                                content=corpus().encode(), filename="x\"><img src=x onerror=window.__xss(600)>.md",
                                content_type="text/markdown\"><svg/onload=window.__xss(601)>")
    ids["documents"].append(document.pk)
    # One archive entry of each kind (their payload and signed typed data are shown as JSON).
    from django.db.models import Max

    ids["entries"] = sorted(ArchiveEntry.objects.values("kind").annotate(last=Max("sequence"))
                            .values_list("last", flat=True))
    ids["statement_author"] = world.users["holder"]
    return world, ids


#: _pages(): the pages before this index show every field once; the rest repeat them per payload.
BULK_START = 30


def _pages(world: World, ids: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(role signed in or None, path) of every page that shows a user-written field."""
    n = world.number
    q = quote(REFLECTED)
    pages: list[tuple[str | None, str]] = [
        (None, reverse("home")),
        (None, reverse("proposals:list")),
        (None, reverse("proposals:list") + f"?q={q}"),
        (None, reverse("proposals:list") + f"?status={q}&kind={q}&sort={q}"),
        ("author", reverse("proposals:edit", args=[n("draft")])),
        ("author", reverse("proposals:detail", args=[n("draft")])),
        (None, reverse("proposals:revisions", args=[n("draft")])),
        (None, reverse("proposals:detail", args=[n("discussion")])),
        (None, reverse("proposals:detail", args=[n("review")])),
        ("holder", reverse("proposals:detail", args=[n("voting")])),
        ("council", reverse("proposals:detail", args=[n("queued")])),
        ("holder", reverse("voting:page", args=[n("voting")])),
        (None, reverse("voting:results-fragment", args=[n("voting")])),
        ("council", reverse("execution:proposal", args=[n("queued")])),
        ("staff", reverse("execution:status")),
        (None, reverse("delegation:directory")),
        (None, reverse("delegation:directory") + f"?q={q}&sort={q}"),
        ("holder", reverse("delegation:statement")),
        ("holder", reverse("delegation:mine")),
        (None, reverse("archive:timeline")),
        (None, reverse("archive:timeline") + f"?q={q}&kind={q}"),
        (None, reverse("archive:document_list")),
        ("staff", reverse("archive:document_new")),
        # The API's browsable (HTML) views of the same data.
        (None, reverse("proposals-api:detail", args=[n("draft")])),
        (None, reverse("proposals-api:list") + f"?q={q}&status={q}"),
        (None, reverse("proposals-api:reviews", args=[n("review")])),
        (None, reverse("voting-api:list", args=[n("voting")])),
        (None, reverse("execution-api:status", args=[n("queued")])),
        (None, reverse("archive-api:documents")),
        (None, reverse("delegation-api:list") + f"?search={q}"),
    ]
    assert len(pages) == BULK_START
    # Bulk: one page per payload in a title or a name (their other pages are those above).
    pages += [(None, reverse("proposals:detail", args=[ids["proposals"][i]])) for i in TITLE_CONTEXTS]
    pages += [(None, reverse("delegation:detail", args=[address])) for address in ids["statements"][:3]]
    pages += [(None, reverse("delegation-api:statements", args=[ids["statements"][0]]))]
    pages += [(None, reverse("archive:document_detail", args=[pk])) for pk in ids["documents"]]
    pages += [(None, reverse("archive:entry_detail", args=[seq])) for seq in ids["entries"]]
    return pages


def _session_cookie(world: World, role: str) -> str:
    client = Client()
    client.force_login(world.users[role])
    return client.cookies["sessionid"].value


def _visit_all(browser: Any, context: Any, base_url: str, world: World, pages: list[tuple[str | None, str]],
               reports: list[str], dom_problems: list[str], fragments: dict[str, str]) -> None:
    """Render every page in `context` (one page object per signed-in role); collect what went wrong."""
    from urllib.parse import urlparse

    host = urlparse(base_url).hostname
    by_role: dict[str | None, Any] = {}
    for role, path in pages:
        if role not in by_role:
            if role is None:
                page = context.new_page()
            else:  # a separate context per role: its own session cookie
                own = browser.new_context(bypass_csp=True)
                own.expose_function("__xssReport", lambda text: reports.append(text))
                own.expose_function("__cspReport", lambda text: reports.append(f"CSP: {text}"))
                own.add_init_script(SENTINEL_SCRIPT)
                own.add_cookies([{"name": "sessionid", "value": _session_cookie(world, role), "domain": host,
                                  "path": "/"}])
                page = own.new_page()
            page.on("dialog", lambda dialog: (reports.append(f"dialog {dialog.message}"), dialog.dismiss()))
            # A payload that half-ran (a syntax error in injected code) shows as a page error or in the console.
            page.on("pageerror", lambda error: reports.append(f"page error: {error}"))
            page.on("console", lambda message: reports.append(f"console: {message.text}")
                    if "__xss" in message.text else None)
            by_role[role] = page
        page = by_role[role]
        before = len(reports)
        response = page.goto(base_url + path, wait_until="load")
        assert response is not None and response.status < 500, (path, response and response.status)
        if path in fragments:  # what voting.js / execution.js do when they reload a panel
            page.evaluate(INSERT_FRAGMENT, fragments[path])
        problems = page.evaluate(DOM_CHECK)
        dom_problems.extend(f"{path} (as {role}): {p}" for p in problems)
        for i in range(before, len(reports)):
            reports[i] = f"{path} (as {role}): {reports[i]}"
    for role, page in by_role.items():
        if role is not None:
            page.context.close()


@pytest.mark.slow
def test_no_injected_script_runs_in_the_browser(portal: Any, browser: Any, settings: Any) -> None:
    settings.GOVERNANCE = _governance_override()
    settings.RATE_LIMITS = GENEROUS_RATE_LIMITS
    world, ids = _build_payload_world(portal.chain)
    pages = _pages(world, ids)
    assert len(pages) >= 55, len(pages)

    # 1. CSP bypassed: only escaping and sanitising protect the page.
    reports: list[str] = []
    dom_problems: list[str] = []
    context = browser.new_context(bypass_csp=True)
    context.expose_function("__xssReport", lambda text: reports.append(text))
    context.expose_function("__cspReport", lambda text: reports.append(f"CSP: {text}"))
    context.add_init_script(SENTINEL_SCRIPT)
    try:
        fragments = {reverse("voting:page", args=[world.number("voting")]):
                     reverse("voting:results-fragment", args=[world.number("voting")]),
                     reverse("execution:proposal", args=[world.number("queued")]):
                     reverse("execution:panel", args=[world.number("queued")])}
        _visit_all(browser, context, portal.base_url, world, pages, reports, dom_problems, fragments)
    finally:
        context.close()
    assert not reports, "injected script ran:\n" + "\n".join(reports)
    assert not dom_problems, "injected markup in the DOM:\n" + "\n".join(dom_problems)

    # 2. As served (CSP on): no violation reported, no sentinel (the portal fixture also fails on CSP errors).
    served: list[str] = []
    portal.page.context.expose_function("__xssReport", lambda text: served.append(text))
    portal.page.context.expose_function("__cspReport", lambda text: served.append(f"CSP: {text}"))
    portal.page.context.add_init_script(SENTINEL_SCRIPT)
    for role, path in pages[:BULK_START]:
        if role is None and not path.startswith("/api/"):
            before = len(served)
            portal.page.goto(portal.url(path), wait_until="load")
            served[before:] = [f"{path}: {text}" for text in served[before:]]
    assert not served, "\n".join(served)

    # 3. Server side (the Django client, same data): no handler, script URL, inline script or frame in any page.
    failures = []
    for role, path in pages:
        response = (world.client(role) if role else Client()).get(path, HTTP_ACCEPT="text/html")
        assert response.status_code < 500, (path, response.status_code)
        problems = page_problems(response.content.decode())
        if problems:
            failures.append(f"{path} (as {role}): {problems}")
    assert not failures, "\n".join(failures)

    # 4. Template injection: shown literally, never evaluated.
    page_text = Client().get(reverse("proposals:detail", args=[ids["proposals"][len(PAYLOADS) - 1]])).content.decode()
    assert TEMPLATE_INJECTION in page_text
