"""Rate limits on writes (govapp/ratelimit.py) against a real Redis: per signed-in address and per client IP,
429 in the error shape with Retry-After, nothing written, reads never limited, counters shared across processes.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from eth_account import Account

from accounts.models import SignInNonce, User
from archive.models import Document, DocumentCategory
from govapp import ratelimit

ROOT = Path(__file__).resolve().parents[2]
RETRY = re.compile(r"Try again in (\d+) seconds?")


def redis_url() -> str:
    broker = os.environ.get("CELERY_BROKER_URL", "")
    return broker if broker.startswith("redis://") else "redis://127.0.0.1:6379/15"


@pytest.fixture
def limits(settings):
    """limits(address=..., ip=...): turn limiting on with these rates, counted in the real Redis."""
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_REDIS_URL = redis_url()
    settings.RATE_LIMIT_TRUSTED_PROXIES = 0

    def set_limits(address: str = "off", ip: str = "off") -> None:
        settings.RATE_LIMITS = {"address": address, "ip": ip}

    return set_limits


def assert_rate_limited(response, scope_words: str) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "rate_limited"
    message = body["error"]["message"]
    assert scope_words in message
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert RETRY.search(message) and int(RETRY.search(message).group(1)) == retry_after
    return retry_after


def nonce(client: Client, address: str, **extra):
    return client.post("/accounts/nonce", {"address": address}, content_type="application/json", **extra)


def staff_client(**defaults) -> tuple[Client, User]:
    user = User.objects.for_address(Account.create().address)
    user.is_staff = True
    user.save()
    client = Client(**defaults)
    client.force_login(user)
    return client, user


def document_form(n: int) -> dict[str, str]:
    return {"title": f"Minutes {n}", "category": DocumentCategory.values[0], "date": datetime.date.today().isoformat(),
            "text": f"Notes of meeting {n}."}


# --- The N+1-th write -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_api_write_past_the_ip_limit_is_refused_and_writes_nothing(limits):
    limits(ip="3/minute")
    client = Client()
    address = Account.create().address
    for _ in range(3):
        assert nonce(client, address).status_code == 200
    assert SignInNonce.objects.count() == 3
    assert_rate_limited(nonce(client, address), "IP address")
    assert SignInNonce.objects.count() == 3  # refused before the view: no nonce issued
    assert client.get("/api/proposals/").status_code == 200  # reads go on


@pytest.mark.django_db
def test_page_form_post_past_the_address_limit_is_refused_and_writes_nothing(limits):
    limits(address="2/minute", ip="100/minute")
    client, _ = staff_client()
    for n in range(2):
        response = client.post("/archive/documents/new/", document_form(n))
        assert response.status_code == 302, response.content
    assert Document.objects.count() == 2
    refused = client.post("/archive/documents/new/", document_form(2))
    assert_rate_limited(refused, "signed-in address")
    assert refused["Content-Security-Policy"]  # the refusal carries the security headers like any response
    assert Document.objects.count() == 2
    assert client.get("/archive/documents/new/").status_code == 200  # the form still loads


@pytest.mark.django_db
def test_api_write_past_the_address_limit_is_refused_and_writes_nothing(limits):
    limits(address="1/minute", ip="100/minute")
    client, _ = staff_client()
    assert client.post("/api/archive/documents/", document_form(0), content_type="application/json").status_code == 201
    refused = client.post("/api/archive/documents/", document_form(1), content_type="application/json")
    assert_rate_limited(refused, "signed-in address")
    assert Document.objects.count() == 1


# --- Whose counter ------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_address_limit_holds_across_ips(limits):
    limits(address="3/minute", ip="100/minute")
    client, _ = staff_client()
    for n in range(3):
        response = client.post("/archive/documents/new/", document_form(n), REMOTE_ADDR=f"10.0.0.{n + 1}")
        assert response.status_code == 302
    assert_rate_limited(client.post("/archive/documents/new/", document_form(9), REMOTE_ADDR="10.0.0.99"),
                        "signed-in address")
    # Another signed-in address from the same IPs is not affected.
    other, _ = staff_client()
    assert other.post("/archive/documents/new/", document_form(10), REMOTE_ADDR="10.0.0.1").status_code == 302


@pytest.mark.django_db
def test_ip_limit_holds_across_addresses(limits):
    limits(address="100/minute", ip="2/minute")
    for n in range(2):
        client, _ = staff_client()
        assert client.post("/archive/documents/new/", document_form(n), REMOTE_ADDR="192.0.2.7").status_code == 302
    client, _ = staff_client()
    assert_rate_limited(client.post("/archive/documents/new/", document_form(3), REMOTE_ADDR="192.0.2.7"),
                        "IP address")
    assert Document.objects.count() == 2
    # A signed-out client from that IP is refused too; one from elsewhere is not.
    assert nonce(Client(), Account.create().address, REMOTE_ADDR="192.0.2.7").status_code == 429
    assert nonce(Client(), Account.create().address, REMOTE_ADDR="192.0.2.8").status_code == 200


@pytest.mark.django_db
def test_forwarded_for_is_ignored_unless_proxies_are_trusted(limits, settings):
    limits(ip="2/minute")
    client, address = Client(), Account.create().address
    for n in range(2):
        assert nonce(client, address, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 200
    # A client writing its own X-Forwarded-For does not get a fresh counter.
    assert nonce(client, address, HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 429

    # Behind one trusted proxy the entry that proxy appended (the last) is the client...
    settings.RATE_LIMIT_TRUSTED_PROXIES = 1
    for _ in range(2):
        assert nonce(client, address, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    assert nonce(client, address, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    # ...and what the client wrote further left does not change that.
    assert nonce(client, address, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1").status_code == 429
    assert nonce(client, address, HTTP_X_FORWARDED_FOR="198.51.100.1, 198.51.100.2").status_code == 200


@pytest.mark.parametrize("meta, proxies, expected", [
    ({"REMOTE_ADDR": "192.0.2.1"}, 0, "192.0.2.1"),
    ({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, 0, "192.0.2.1"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}, 1, "203.0.113.9"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9, 10.0.0.1"}, 2, "203.0.113.9"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, 1, "10.0.0.2"),
    ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, 0, "2001:db8:1:2::/64"),  # one IPv6 subscriber = one /64
    ({"REMOTE_ADDR": "::ffff:192.0.2.5"}, 0, "192.0.2.5"),
])
def test_client_ip(rf, settings, meta, proxies, expected):
    settings.RATE_LIMIT_TRUSTED_PROXIES = proxies
    request = rf.post("/", **meta)
    request.META.update(meta)
    assert ratelimit.client_ip(request) == expected


# --- Reads, windows, switches ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_reads_are_never_limited(limits):
    limits(address="1/minute", ip="1/minute")
    client, _ = staff_client()
    assert client.post("/archive/documents/new/", document_form(0)).status_code == 302
    assert client.post("/archive/documents/new/", document_form(1)).status_code == 429
    for path in ("/", "/archive/documents/", "/api/archive/documents/", "/api/proposals/", "/accounts/me"):
        for _ in range(5):
            assert client.get(path).status_code == 200, path
        assert client.head(path).status_code != 429 and client.options(path).status_code != 429, path


@pytest.mark.django_db
def test_the_window_resets_after_retry_after(limits):
    limits(ip="2/2s")
    client, address = Client(), Account.create().address
    while True:  # start at the beginning of a window, so the two writes share it
        now = time.time()
        if now % 2 < 1.0:
            break
        time.sleep(0.05)
    assert [nonce(client, address).status_code for _ in range(2)] == [200, 200]
    retry_after = assert_rate_limited(nonce(client, address), "IP address")
    assert retry_after <= 2
    time.sleep(retry_after + 0.05)
    assert nonce(client, address).status_code == 200


@pytest.mark.django_db
def test_rate_limit_enabled_false_switches_it_off(limits, settings):
    limits(address="1/minute", ip="1/minute")
    settings.RATE_LIMIT_ENABLED = False
    client, address = Client(), Account.create().address
    assert [nonce(client, address).status_code for _ in range(5)] == [200] * 5


@pytest.mark.django_db
def test_without_redis_the_counters_are_process_local(limits, settings):
    limits(ip="2/minute")
    settings.RATE_LIMIT_REDIS_URL = ""  # the embedded `make run` default
    ratelimit.counters().clear()
    client, address = Client(), Account.create().address
    assert [nonce(client, address).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db
def test_an_unreachable_redis_lets_writes_through_and_warns(limits, settings, caplog):
    limits(ip="1/minute")
    settings.RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    client, address = Client(), Account.create().address
    with caplog.at_level(logging.WARNING, logger="govapp.ratelimit"):
        assert [nonce(client, address).status_code for _ in range(2)] == [200, 200]
    assert "rate limiter unavailable" in caplog.text


def test_rates_parse_and_bad_ones_fail_the_system_check(settings):
    assert ratelimit.parse_rate("60/minute") == ratelimit.Rate(60, 60)
    assert ratelimit.parse_rate("1000/10s") == ratelimit.Rate(1000, 10)
    assert ratelimit.parse_rate("5/hours") == ratelimit.Rate(5, 3600)
    assert ratelimit.parse_rate("off") is None
    with pytest.raises(ValueError, match="bad rate"):
        ratelimit.parse_rate("60 per minute")
    settings.RATE_LIMITS = {"address": "60/fortnight", "ip": "300/minute", "user": "1/s"}
    assert {e.id for e in ratelimit.check_rate_limit_settings()} == {"govapp.E010", "govapp.E011"}


# --- Shared between processes ---------------------------------------------------------------------------------

WORKER = """
import django, json, sys
django.setup()
from django.test import Client
client = Client()
codes = [client.post("/api/votes/", {}, content_type="application/json").status_code for _ in range(int(sys.argv[1]))]
print(json.dumps(codes))
"""


def test_counters_are_shared_between_processes(tmp_path):
    """Two separate processes (as two gunicorn workers) count in the same Redis window."""
    prefix = f"govapp:ratelimit:test:{uuid.uuid4().hex}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "govapp.settings", "GOVAPP_VAR_DIR": str(tmp_path),
           "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_REDIS_URL": redis_url(), "RATE_LIMIT_KEY_PREFIX": prefix,
           "RATE_LIMIT_PER_IP": "5/minute", "RATE_LIMIT_PER_ADDRESS": "off"}

    def run(count: int) -> list[int]:
        result = subprocess.run([sys.executable, "-c", WORKER, str(count)], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return __import__("json").loads(result.stdout.strip().splitlines()[-1])

    while time.time() % 60 > 50:  # keep both runs inside one one-minute window
        time.sleep(1)
    first, second = run(3), run(3)
    assert 429 not in first and first == [400, 400, 400]  # bad bodies, but writes: counted
    assert second == [400, 400, 429]
    keys = redis.Redis.from_url(redis_url()).keys(f"{prefix}:ip:*")
    assert len(keys) == 1 and int(redis.Redis.from_url(redis_url()).get(keys[0])) == 6


# --- Every write endpoint -----------------------------------------------------------------------------------------

def _routes(resolver: URLResolver = None, prefix: str = ""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def _concrete(route: str) -> str:
    route = route.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    route = re.sub(r"\(\?P<vote_id>[^)]*\)", "0x" + "ab" * 32, route)
    route = re.sub(r"<int:\w+>", "424242", route)
    route = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), route)
    route = re.sub(r"<address:\w+>", "0x" + "12" * 20, route)
    route = re.sub(r"<(?:str|path):\w+>", "x", route)
    route = re.sub(r"<\w+>", "x", route)
    return "/" + route


def test_every_api_view_counts_writes():
    """No API view replaced the default throttle (which would silently drop the limit)."""
    views = {callback.cls for _, callback in _routes() if ratelimit.is_api_view(callback)}
    assert len(views) > 20
    missing = [v.__name__ for v in views if not any(isinstance(t, ratelimit.WriteRateThrottle)
                                                     for t in v().get_throttles())]
    assert not missing


@pytest.mark.django_db
def test_every_route_refuses_the_write_past_the_limit(limits):
    """POST to every URL of the portal twice with a limit of one write: the second is always 429."""
    limits(ip="1/minute")
    routes = sorted({_concrete(route) for route, _ in _routes() if "(?P<path>" not in route})
    assert "/api/votes/" in routes and "/proposals/new/" in routes and "/admin/login/" in routes
    assert "/api/votes/0x" + "ab" * 32 in routes
    not_limited = []
    for n, path in enumerate(routes):
        client = Client()
        ip = f"10.{n // 250}.{n % 250}.1"  # each route its own counter
        client.post(path, {}, REMOTE_ADDR=ip)
        second = client.post(path, {}, REMOTE_ADDR=ip)
        if second.status_code != 429:
            not_limited.append((path, second.status_code))
            continue
        assert int(second["Retry-After"]) >= 1
        if second["Content-Type"] == "application/json":  # the API docs answer in their own renderer
            assert second.json()["error"]["code"] == "rate_limited"
    assert not not_limited
