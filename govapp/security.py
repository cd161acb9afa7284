"""Browser security headers, and keeping secrets out of logs and error pages.

- `SecurityHeadersMiddleware` adds the Content-Security-Policy and Permissions-Policy to every response
  (Django's SecurityMiddleware adds nosniff, Referrer-Policy, Cross-Origin-Opener-Policy and, over HTTPS,
  HSTS; XFrameOptionsMiddleware adds X-Frame-Options). The policy is CONTENT_SECURITY_POLICY in settings,
  loosened per path prefix by CONTENT_SECURITY_POLICY_PATHS (only the Redoc API docs need that).
- `RedactSecretsFilter` (installed on every handler in LOGGING, and on Celery's handlers by
  `install_celery_log_redaction`) replaces the configured secrets (SECRET_KEY, every *_PRIVATE_KEY, database
  and Redis passwords) and any 32-byte hex value labelled as a key/secret in a log line.
- `RedactingExceptionReporterFilter` (DEFAULT_EXCEPTION_REPORTER_FILTER) hides the same values on Django's
  DEBUG error page, also where they sit in a frame's local variables or request.META under an innocent name;
  `RedactingExceptionReporter` (DEFAULT_EXCEPTION_REPORTER) redacts the rendered page and the error e-mail text
  as a whole, exception messages included.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

REDACTED = "[redacted]"


# --- Headers ----------------------------------------------------------------------------------------------

def content_security_policy(path: str) -> str:
    """The CSP header value for `path`: the site policy, with the longest matching path override merged in."""
    policy: dict[str, str] = dict(settings.CONTENT_SECURITY_POLICY)
    overrides: dict[str, dict[str, str]] = getattr(settings, "CONTENT_SECURITY_POLICY_PATHS", {})
    matching = [prefix for prefix in overrides if path.startswith(prefix)]
    if matching:
        policy.update(overrides[max(matching, key=len)])
    return "; ".join(f"{name} {value}".strip() for name, value in policy.items())


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and Permissions-Policy to every response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.path)
        permissions = getattr(settings, "PERMISSIONS_POLICY", "")
        if permissions and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = permissions
        return response


# --- Secrets ----------------------------------------------------------------------------------------------

_HEX32 = re.compile(r"^(?:0x)?[0-9a-fA-F]{64}$")
# A 32-byte hex value right after a word that names it as secret ("private_key=0x…", '"key": "…"', "secret …").
# Transaction hashes, digests and vote ids stay readable: they are not labelled so.
_LABELLED_HEX32 = re.compile(
    r"(?i)((?:private|priv|secret|mnemonic|seed|passphrase|password|key)[\w-]{0,20}?['\"]?\s*[:=,]?\s*"
    r"(?:b?['\"])?)(?:0x)?[0-9a-f]{64}(?![0-9a-f])")
_MIN_SECRET_CHARS = 8  # shorter "secrets" (an empty or test value) would redact ordinary words


def secret_values() -> tuple[str, ...]:
    """Every configured secret: SECRET_KEY (and fallbacks), each *_PRIVATE_KEY, database and Redis passwords."""
    if not settings.configured:
        return ()
    values: list[str] = [getattr(settings, "SECRET_KEY", ""), *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    values += [getattr(settings, name) for name in _private_key_setting_names()]
    for database in getattr(settings, "DATABASES", {}).values():
        values.append(database.get("PASSWORD") or "")
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "RATE_LIMIT_REDIS_URL"):
        url = getattr(settings, name, None)
        if isinstance(url, str) and "@" in url:
            values.append(urlsplit(url).password or "")
    return tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_CHARS}))


@functools.cache
def _private_key_setting_names() -> tuple[str, ...]:
    return tuple(name for name in dir(settings) if name.isupper() and name.endswith("_PRIVATE_KEY"))


@functools.lru_cache(maxsize=8)
def _secrets_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = []
    for value in values:
        if _HEX32.match(value):  # a private key: with or without 0x, any case
            alternatives.append(r"(?:0x)?" + value.lower().removeprefix("0x"))
        else:
            alternatives.append(re.escape(value))
    if not alternatives:
        return None
    alternatives.sort(key=len, reverse=True)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every configured secret and every labelled 32-byte hex value replaced by [redacted]."""
    pattern = _secrets_pattern(secret_values())
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _LABELLED_HEX32.sub(lambda m: m.group(1) + REDACTED, text)


def contains_secret(text: str) -> bool:
    return redact(text) != text


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack so no secret reaches a handler's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        except Exception:  # noqa: BLE001 - a log filter must never break logging
            record.msg, record.args, record.exc_info, record.exc_text = "[unloggable record redacted]", None, None, None
        return True


def add_redaction(handlers: Iterable[logging.Handler]) -> None:
    """Install RedactSecretsFilter on `handlers` (once each)."""
    for handler in handlers:
        if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            handler.addFilter(RedactSecretsFilter())


def install_celery_log_redaction() -> None:
    """Celery workers configure their own handlers (root, task and redirected-stdout loggers): filter them too."""
    from celery.signals import after_setup_logger, after_setup_task_logger

    def _redact(logger: logging.Logger | None = None, **_: Any) -> None:
        loggers = [logger or logging.getLogger(), logging.getLogger(), logging.getLogger("celery"),
                   logging.getLogger("celery.task"), logging.getLogger("celery.redirected")]
        for each in loggers:
            add_redaction(each.handlers)

    after_setup_logger.connect(_redact, weak=False)
    after_setup_task_logger.connect(_redact, weak=False)


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter (hides settings and META named like KEY/SECRET/PASS/TOKEN) plus secrets found by value:
    a private key in a local variable called `raw` or in an environment variable called DATABASE_URL is hidden too.
    """

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return self._by_value(cleansed)

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        return self._by_value(super().cleanse_special_types(request, value))

    def _by_value(self, value: Any) -> Any:
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace") + " " + value.hex()
        elif isinstance(value, str | list | tuple | dict | set):
            text = str(value)
        else:
            return value
        return self.cleansed_substitute if contains_secret(text) else value


class RedactingExceptionReporter(ExceptionReporter):
    """Django's error report (DEBUG page, admin e-mails) with every secret redacted from the rendered text."""

    def get_traceback_html(self) -> str:
        return redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return redact(super().get_traceback_text())
