"""Rate limits on writes: per signed-in address and per client IP, shared by every worker through Redis.

Every unsafe request (POST, PUT, PATCH, DELETE) counts once against the client's IP and, when a session is
signed in, once against its address, in fixed windows (settings.RATE_LIMITS, e.g. "60/minute"). Past a
limit the request is refused with 429 {"error": {"code": "rate_limited", "message": ...}} and Retry-After,
before the view runs, so a refused request changes nothing. Reads are never counted.

- The REST API: `WriteRateThrottle`, in REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] (DRF runs it before the
  handler, after authentication).
- Every other view (the pages' form posts, the admin): `RateLimitMiddleware.process_view`, which leaves DRF
  views to the throttle so nothing is counted twice.

Counters live in Redis (RATE_LIMIT_REDIS_URL; INCR + EXPIRE in one MULTI pipeline, one round trip) so all
gunicorn workers share them; without a Redis URL (the embedded `make run`) they are process-local. If Redis
is unreachable the limiter lets requests through and logs a warning: rate limiting must not take the portal
down. Settings are read at request time (tests override them with the `settings` fixture).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.core.checks import Error, register
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SCOPES = ("address", "ip")  # the keys of settings.RATE_LIMITS
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int  # requests per window
    period: int  # window length in seconds


def parse_rate(text: str | None) -> Rate | None:
    """'60/minute', '300/m', '1000/10s', '5/hour' -> Rate; '', 'none', 'off' -> None (no limit)."""
    if text is None or str(text).strip().lower() in ("", "none", "off"):
        return None
    match = _RATE.match(str(text).lower())
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"bad rate {text!r}: expected '<count>/<unit>' such as '60/minute' or '1000/10s'")
    period = int(match.group(2) or 1) * _UNITS[match.group(3)]
    if period <= 0:
        raise ValueError(f"bad rate {text!r}: the window must be at least one second")
    return Rate(limit=int(match.group(1)), period=period)


def configured_rates() -> dict[str, Rate]:
    rates = getattr(settings, "RATE_LIMITS", {})
    parsed = {scope: parse_rate(rates.get(scope)) for scope in SCOPES}
    return {scope: rate for scope, rate in parsed.items() if rate is not None}


@register()
def check_rate_limit_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """System check: every RATE_LIMITS value parses, and no unknown scope is configured."""
    errors = []
    rates = getattr(settings, "RATE_LIMITS", {})
    for scope, text in rates.items():
        if scope not in SCOPES:
            errors.append(Error(f"RATE_LIMITS has an unknown scope {scope!r}.", hint=f"Use {SCOPES}.",
                                id="govapp.E010"))
            continue
        try:
            parse_rate(text)
        except ValueError as exc:
            errors.append(Error(f"RATE_LIMITS[{scope!r}]: {exc}.", id="govapp.E011"))
    return errors


# --- Who is asking ----------------------------------------------------------------------------------------

def client_ip(request: HttpRequest) -> str:
    """The client's IP (IPv6: its /64). X-Forwarded-For is read only with RATE_LIMIT_TRUSTED_PROXIES = N > 0,
    and then only its N-th entry from the right (the one our own last proxy appended): entries a client wrote
    itself further left are ignored, so they cannot pick the counter."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    candidate = remote
    proxies = int(getattr(settings, "RATE_LIMIT_TRUSTED_PROXIES", 0) or 0)
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if hops:
            candidate = hops[-min(proxies, len(hops))]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        try:
            ip = ipaddress.ip_address(remote)
        except ValueError:
            return remote or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))  # one subscriber holds a whole /64
    return str(ip)


def signed_in_address(request: HttpRequest, user: Any = None) -> str | None:
    """The address of the session's user (views that ignore sessions still count against it)."""
    if user is None or not getattr(user, "is_authenticated", False):
        user = get_user(request) if hasattr(request, "session") else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    address = getattr(user, "address", None) or str(user.pk)
    return str(address).lower()


# --- Counters ----------------------------------------------------------------------------------------------

class LocalCounters:
    """Process-local fixed-window counters (the embedded `make run`, which has no Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def hit(self, keys: Sequence[tuple[str, int]]) -> list[int]:
        now = time.time()
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            counts = []
            for key, ttl in keys:
                count, expires = self._counts.get(key, (0, now + ttl))
                self._counts[key] = (count + 1, expires)
                counts.append(count + 1)
            return counts

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class RedisCounters:
    """Fixed-window counters in Redis: INCR and EXPIRE of every key in one MULTI/EXEC round trip."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                           health_check_interval=30)

    def hit(self, keys: Sequence[tuple[str, int]]) -> list[int]:
        pipe = self.client.pipeline(transaction=True)
        for key, ttl in keys:
            pipe.incr(key)
            pipe.expire(key, ttl)
        replies = pipe.execute()
        return [int(count) for count in replies[0::2]]


_local = LocalCounters()
_redis: dict[str, RedisCounters] = {}
_redis_lock = threading.Lock()


def counters() -> LocalCounters | RedisCounters:
    url = getattr(settings, "RATE_LIMIT_REDIS_URL", "") or ""
    if not url:
        return _local
    with _redis_lock:
        if url not in _redis:
            _redis[url] = RedisCounters(url)
        return _redis[url]


# --- The decision ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    scope: str  # "address" or "ip"
    retry_after: int  # seconds until the window that refused resets

    @property
    def message(self) -> str:
        who = "signed-in address" if self.scope == "address" else "IP address"
        unit = "second" if self.retry_after == 1 else "seconds"
        return (f"Too many write requests from your {who}. Try again in {self.retry_after} {unit} "
                f"(see the Retry-After header).")


def check(request: HttpRequest, user: Any = None) -> Refusal | None:
    """Count one write of `request` against its IP and signed-in address; the refusal past a limit, or None."""
    if request.method not in UNSAFE_METHODS or not getattr(settings, "RATE_LIMIT_ENABLED", True):
        return None
    rates = configured_rates()
    if not rates:
        return None
    idents = {"ip": client_ip(request)}
    address = signed_in_address(request, user) if "address" in rates else None
    if address:
        idents["address"] = address
    now = time.time()
    prefix = getattr(settings, "RATE_LIMIT_KEY_PREFIX", "govapp:ratelimit")
    plan = []
    for scope, ident in idents.items():
        if scope not in rates:
            continue
        rate = rates[scope]
        window = int(now // rate.period)
        retry_after = max(1, math.ceil((window + 1) * rate.period - now))
        plan.append((scope, rate, f"{prefix}:{scope}:{ident}:{rate.period}:{window}", retry_after))
    if not plan:
        return None
    try:
        counts = counters().hit([(key, rate.period + 1) for _, rate, key, _ in plan])
    except Exception as exc:  # noqa: BLE001 - an unreachable Redis must not refuse (or break) writes
        logger.warning("rate limiter unavailable, request let through: %s", exc)
        return None
    refused = [Refusal(scope, retry_after) for (scope, rate, _, retry_after), count in zip(plan, counts, strict=True)
               if count > rate.limit]
    return max(refused, key=lambda r: r.retry_after) if refused else None


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    return {"error": {"code": "rate_limited", "message": refusal.message}}


# --- DRF: the API -------------------------------------------------------------------------------------------

class RateLimited(exceptions.Throttled):
    """429 with our sentence (DRF's Throttled would append its own); the API handler adds the error shape."""

    default_code = "rate_limited"

    def __init__(self, refusal: Refusal) -> None:
        exceptions.APIException.__init__(self, refusal.message, "rate_limited")
        self.wait = refusal.retry_after  # DRF's exception handler turns it into Retry-After


class WriteRateThrottle(BaseThrottle):
    """Counts the API's unsafe requests (see module docstring); reads pass without touching the counters."""

    def allow_request(self, request: Any, view: Any) -> bool:
        django_request = getattr(request, "_request", request)
        refusal = check(django_request, getattr(request, "user", None))
        if refusal is not None:
            raise RateLimited(refusal)
        return True

    def wait(self) -> float | None:
        return None


# --- Everything else: the pages' form posts, the admin ---------------------------------------------------------

def is_api_view(view_func: Callable[..., Any]) -> bool:
    from rest_framework.views import APIView  # not at import time: DRF's settings import this module

    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class RateLimitMiddleware:
    """Rate-limits unsafe requests to non-DRF views before the view runs (DRF views: WriteRateThrottle)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any,
                     view_kwargs: Any) -> HttpResponse | None:
        if request.method not in UNSAFE_METHODS or is_api_view(view_func):
            return None
        refusal = check(request, getattr(request, "user", None))
        if refusal is None:
            return None
        response = JsonResponse(refusal_body(refusal), status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
