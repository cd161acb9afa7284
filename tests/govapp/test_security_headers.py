"""Security headers and the Content-Security-Policy on every response, cookies of a real sign-in, production
transport security, and the pages (portal, API docs, admin) working in Chromium under the policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import environ
import pytest
from django.test import Client
from eth_account import Account
from eth_account.messages import encode_defunct

from accounts.models import User
from govapp.production import HSTS_SECONDS, transport_security
from govapp.testing import _record_csp_violation

ROOT = Path(__file__).resolve().parents[2]


def csp_directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in header.split(";")) if part}


def assert_security_headers(response, *, frame_options: bool = True) -> None:
    policy = csp_directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    if frame_options:
        assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, status", [
    ("get", "/", 200),
    ("get", "/proposals/", 200),
    ("get", "/archive/", 200),
    ("get", "/api/proposals/", 200),
    ("get", "/api/schema/", 200),
    ("get", "/no/such/page", 404),
    ("post", "/api/votes/", 415),  # a refused write
    ("get", "/accounts/me", 401),
])
def test_every_response_carries_the_security_headers(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert_security_headers(response)


def test_static_files_carry_them_too(settings):
    settings.WHITENOISE_USE_FINDERS = True  # WhiteNoise serves them as in production (read when the client starts)
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200 and response.streaming
    # WhiteNoise answers before Django's X-Frame-Options middleware; frame-ancestors 'none' covers it.
    assert_security_headers(response, frame_options=False)


@pytest.mark.django_db
def test_only_the_api_docs_loosen_the_policy(client):
    docs = csp_directives(client.get("/api/docs/"))
    assert docs["style-src"] == "'self' 'unsafe-inline'"  # Redoc injects its CSS
    assert docs["worker-src"] == "'self' blob:"
    assert docs["img-src"] == "'self' data: https://cdn.redoc.ly"  # Redoc's logo
    assert docs["script-src"] == "'self'"  # scripts stay strict there too
    assert docs["frame-ancestors"] == "'none'"
    for path in ("/", "/api/", "/api/schema/", "/admin/login/"):
        policy = csp_directives(client.get(path))
        assert policy["style-src"] == "'self'" and "worker-src" not in policy, path


@pytest.mark.django_db
def test_a_view_may_set_its_own_policy(settings, client):
    # The middleware only fills in: a response with its own header keeps it.
    from govapp.security import SecurityHeadersMiddleware

    def own(request):
        from django.http import HttpResponse

        response = HttpResponse("x")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    from django.test import RequestFactory

    response = SecurityHeadersMiddleware(own)(RequestFactory().get("/"))
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY


INLINE_CODE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script> (use a static/js file)"),
    (re.compile(r"<style\b", re.I), "inline <style> (use a static/css file)"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute (use a class)"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler (use addEventListener)"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_has_inline_script_or_style():
    """The policy has no 'unsafe-inline': any inline code in a template would be refused by the browser."""
    problems = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for pattern, what in INLINE_CODE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{template.relative_to(ROOT)}:{line}: {what}")
    assert not problems, "\n".join(problems)


# --- Cookies of a real sign-in ----------------------------------------------------------------------------

def sign_in(client: Client, account, *, secure: bool = False) -> object:
    """Sign in through the real EIP-4361 endpoints; the login response."""
    assert client.get("/accounts/me", secure=secure).status_code == 401  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    issued = client.post("/accounts/nonce", {"address": account.address}, content_type="application/json",
                         headers={"X-CSRFToken": token}, secure=secure)
    assert issued.status_code == 200, issued.content
    message = issued.json()["message"]
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    response = client.post("/accounts/login", {"message": message, "signature": signature},
                           content_type="application/json", headers={"X-CSRFToken": token}, secure=secure)
    assert response.status_code == 200, response.content
    return response


@pytest.mark.django_db
def test_sign_in_cookies_are_httponly_and_lax(settings):
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client, Account.create())
    session, csrf = response.cookies["sessionid"], response.cookies["csrftoken"]  # both set on sign-in
    for cookie in (session, csrf):
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
    assert not settings.DEBUG or not session["secure"]  # dev (plain HTTP): not Secure


@pytest.mark.django_db
def test_production_transport_security_on_a_real_sign_in(settings):
    # The production values (DEBUG off, nothing overridden in the environment) on a real HTTPS sign-in.
    production = transport_security(environ.Env(), debug=False)
    assert production["SECURE_HSTS_SECONDS"] == HSTS_SECONDS >= 365 * 86400
    for name, value in production.items():
        setattr(settings, name, value)
    client = Client(enforce_csrf_checks=True, headers={"Referer": "https://testserver/"})
    response = sign_in(client, Account.create(), secure=True)
    for name in ("sessionid", "csrftoken"):
        cookie = response.cookies[name]
        assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"] == "Lax", name
    assert response["Strict-Transport-Security"] == f"max-age={HSTS_SECONDS}; includeSubDomains"
    # Over plain HTTP no HSTS is sent (browsers ignore it there anyway).
    assert "Strict-Transport-Security" not in Client().get("/healthz")


def test_production_settings_turn_on_secure_cookies_and_hsts(tmp_path):
    names = ("DEPLOYER", "EXECUTOR", "RELAYER", "COUNCIL_RELAY")
    keys = {"SECRET_KEY": "k" * 50, **{f"{name}_PRIVATE_KEY": "0x" + str(i + 1) * 64 for i, name in enumerate(names)}}
    env = {k: v for k, v in os.environ.items() if k not in keys and not k.startswith(("SECURE_", "SESSION_", "CSRF_"))}
    env.update({"GOVAPP_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "govapp.settings", "DEBUG": "false", **keys})
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY, "
            "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "True", str(HSTS_SECONDS), "True"]
    # ...and each stays overridable from the environment (e.g. a TLS-less internal benchmark).
    env["SESSION_COOKIE_SECURE"] = "false"
    env["SECURE_HSTS_SECONDS"] = "0"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split()[0] == "False" and result.stdout.split()[4] == "0"


def test_production_serves_the_api_as_json_only(tmp_path):
    """With DEBUG off the browsable API (inline styles the CSP refuses) is gone; API_BROWSABLE brings it back."""
    names = ("DEPLOYER", "EXECUTOR", "RELAYER", "COUNCIL_RELAY")
    keys = {"SECRET_KEY": "k" * 50, **{f"{name}_PRIVATE_KEY": "0x" + str(i + 1) * 64 for i, name in enumerate(names)}}
    env = {k: v for k, v in os.environ.items() if k not in keys and k != "API_BROWSABLE"}
    env.update({"GOVAPP_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "govapp.settings", "DEBUG": "false", **keys})
    code = ("import django; django.setup(); from rest_framework.settings import api_settings as s; "
            "print(*[c.__name__ for c in s.DEFAULT_RENDERER_CLASSES])")
    run = lambda: subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,  # noqa: E731
                                 text=True, timeout=60)
    result = run()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["JSONRenderer"]
    env["API_BROWSABLE"] = "true"
    assert run().stdout.split() == ["JSONRenderer", "BrowsableAPIRenderer"]


# --- Chromium: the pages work under the policy ---------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_portal_pages_render_without_csp_violations(portal):
    # The portal fixture fails the test on any CSP violation or page error; visit the pages of every app.
    page = portal.page
    for path in ("/", "/proposals/", "/proposals/new/", "/delegates/", "/archive/", "/archive/documents/"):
        response = page.goto(portal.url(path))
        assert response.status < 500, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
    page.goto(portal.url("/proposals/"))
    assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).display") == "flex"  # app.css


@pytest.mark.django_db(transaction=True)
def test_api_docs_render_under_the_policy(portal):
    page = portal.page
    page.goto(portal.url("/api/docs/"))
    # Redoc fetched the schema (connect-src), parsed it (worker-src blob:) and styled itself (style-src).
    page.get_by_text("govapp API").first.wait_for()
    page.locator("[role=menuitem]").first.wait_for()
    assert page.locator("[role=menuitem]").count() > 10


@pytest.mark.django_db(transaction=True)
def test_admin_works_under_the_policy(portal, live_server):
    staff = User.objects.for_address(Account.create().address)
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    page = portal.page
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                               "domain": urlparse(live_server.url).hostname, "path": "/"}])
    page.goto(portal.url("/admin/"))
    page.get_by_role("link", name="Users").first.click()
    page.wait_for_url("**/admin/accounts/user/")
    page.locator("#result_list a").first.click()  # a change form: the admin's scripts and widgets
    page.wait_for_selector("#content-main form")
    page.goto(portal.url("/admin/login/?next=/admin/"))
    page.goto(portal.url("/execution/status"))


@pytest.mark.django_db(transaction=True)
def test_the_csp_check_sees_a_violation(browser, live_server):
    """The portal fixture's check is not vacuous: an inline style on a real page is refused and reported."""
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda message: _record_csp_violation(message, violations))
        page.goto(live_server.url + "/")
        page.evaluate("""() => {
            const style = document.createElement('style');
            style.textContent = 'body { background: red; }';
            document.head.appendChild(style);
            const script = document.createElement('script');
            script.textContent = 'window.inlineRan = true';
            document.head.appendChild(script);
        }""")
        page.wait_for_timeout(200)
        assert page.evaluate("window.inlineRan === undefined")  # the inline script did not run
        assert any("style" in v for v in violations), violations
        assert any("script" in v for v in violations), violations
    finally:
        context.close()
