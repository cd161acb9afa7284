"""Settings for govapp, read from the environment (12-factor).

Every default is a development default: it gives a newcomer a working portal on a bare
machine (SQLite, a filesystem Celery broker, the local anvil chain). With DEBUG off the
portal refuses to start while any of the dev secrets is still in place (see govapp.checks).
"""

from __future__ import annotations

from pathlib import Path

import environ

from govapp.production import transport_security

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("GOVAPP_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
env.read_env(BASE_DIR / ".env")  # optional; silently absent

# --- Development defaults that must never reach production -------------------------------
# Well-known anvil dev keys (accounts 0, 1 and 2 of the "test test ... junk" mnemonic).
DEV_SECRET_KEY = "dev-insecure-govapp-secret-key-change-me"
DEV_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_EXECUTOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEV_RELAYER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
DEV_COUNCIL_RELAY_KEY = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"  # account 7

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "govapp",
    "accounts",
    "chain",
    "archive",
    "proposals",
    "voting",
    "delegation",
    "execution",
]

MIDDLEWARE = [
    "govapp.security.SecurityHeadersMiddleware",  # first: its headers go on every response, static files too
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "govapp.ratelimit.RateLimitMiddleware",  # writes to non-API views (the API: WriteRateThrottle)
]

ROOT_URLCONF = "govapp.urls"
WSGI_APPLICATION = "govapp.wsgi.application"
ASGI_APPLICATION = "govapp.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "govapp.context_processors.portal",
            ],
        },
    },
]

# --- Database: PostgreSQL in production and tests; SQLite file is the embedded default ----
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'govapp.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default: the web server, the worker and beat write one file. A transaction takes the write lock
    # when it begins (IMMEDIATE; waiting up to `timeout` s for it), so one that reads then writes (a vote reads the
    # current votes, then writes) never fails half-way with "database is locked"; WAL lets readers go on meanwhile.
    _sqlite = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite.setdefault("transaction_mode", "IMMEDIATE")
    _sqlite.setdefault("timeout", 20)
    _sqlite.setdefault("init_command", "PRAGMA journal_mode=WAL;")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS: list[dict] = []  # wallet sign-in only; no passwords

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Browser security (govapp/security.py; transport security in govapp/production.py) ---------
# Cookies: never readable by scripts (wallet.js takes the CSRF token from <meta name="csrf-token">), sent on
# top-level navigation from other sites (Lax: a link to a proposal keeps you signed in) but not on their posts.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# Secure cookies and HSTS: on by default with DEBUG off (see govapp.production.transport_security).
globals().update(transport_security(env, debug=DEBUG))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# A wallet SDK that talks to its own pop-up window would need "same-origin-allow-popups".
SECURE_CROSS_ORIGIN_OPENER_POLICY = env.str("SECURE_CROSS_ORIGIN_OPENER_POLICY", default="same-origin")
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of every response: our own scripts, styles and connections only; no inline script
# or style anywhere (templates link static/css and static/js files), no framing, no plugins.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Loosened for one path prefix only (the longest matching prefix's directives replace the site's).
CONTENT_SECURITY_POLICY_PATHS = {
    # Redoc (drf-spectacular sidecar) injects its CSS at run time, parses the schema in a blob: worker and
    # shows its makers' logo from their CDN (an image, nothing else, from there).
    "/api/docs/": {"style-src": "'self' 'unsafe-inline'", "worker-src": "'self' blob:",
                   "img-src": "'self' data: https://cdn.redoc.ly"},
}
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                      "microphone=(), payment=(), usb=(), browsing-topics=()")
# Error pages (DEBUG) and error e-mails hide the secrets by name and by value.
DEFAULT_EXCEPTION_REPORTER = "govapp.security.RedactingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "govapp.security.RedactingExceptionReporterFilter"

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "govapp.api.GovappAutoSchema",  # + the shared error responses
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "govapp.pagination.LimitOffsetPagination",  # bounded limit and offset
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "govapp.api.exception_handler",
    # The browsable API (HTML forms with inline styles that the CSP refuses) is a development aid only.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if env.bool("API_BROWSABLE", default=DEBUG) else []),
    # Rate limits on the API's writes (settings below); a view's own throttle_classes would replace it.
    "DEFAULT_THROTTLE_CLASSES": ["govapp.ratelimit.WriteRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "govapp API",
    "DESCRIPTION": "Governance portal: proposals, delegation, voting, execution and the Foundation archive.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set used by several serializers (else "Kind214Enum", "ToEnum", ...).
    "ENUM_NAME_OVERRIDES": {
        "ProposalKindEnum": "proposals.lifecycle.ProposalKind",
        "ProposalStatusEnum": "proposals.lifecycle.ProposalStatus",
    },
}

# --- Celery ---------------------------------------------------------------------------------
# Redis in production (CELERY_BROKER_URL=redis://...); the embedded default is kombu's
# filesystem transport, which needs no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=env.str("REDIS_URL", default="filesystem://"))
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
    }
else:
    # Longer than any countdown/ETA we use, so Redis does not redeliver a waiting task early.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=43200)}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"

# --- Casting single votes (voting.groupcommit) -----------------------------------------------------------
# Concurrent single votes in one web process are stored together, up to this many per transaction (0 or 1:
# each in its own). Only a threaded server (gunicorn gthread) has concurrent requests in one process.
VOTE_GROUP_COMMIT_MAX = env.int("VOTE_GROUP_COMMIT_MAX", default=64)
# POST /api/votes/ and /api/votes/snapshot answered without URL resolution and DRF (voting.fastpath), with the
# same checks, reply and headers; false sends them the usual way.
VOTE_FAST_PATH = env.bool("VOTE_FAST_PATH", default=True)

# --- Rate limits on writes (govapp/ratelimit.py) -------------------------------------------------
# Every POST/PUT/PATCH/DELETE counts against the client IP and the signed-in address; past a limit: 429
# "rate_limited" with Retry-After. "<count>/<unit>" (second, minute, hour, day; "1000/10s"); "off" = none.
# RATE_LIMIT_ENABLED=false turns limiting off (load tests, benchmarks).
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
RATE_LIMITS = {
    "address": env.str("RATE_LIMIT_PER_ADDRESS", default="60/minute"),
    "ip": env.str("RATE_LIMIT_PER_IP", default="300/minute"),
}
# Counters shared by every web worker: Redis (default: the Celery broker's Redis); process-local without one.
RATE_LIMIT_REDIS_URL = env.str(
    "RATE_LIMIT_REDIS_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else "")
RATE_LIMIT_KEY_PREFIX = env.str("RATE_LIMIT_KEY_PREFIX", default="govapp:ratelimit")
# Number of reverse proxies in front of the portal that append to X-Forwarded-For (0: use the peer address).
RATE_LIMIT_TRUSTED_PROXIES = env.int("RATE_LIMIT_TRUSTED_PROXIES", default=0)

# --- Chain ---------------------------------------------------------------------------------
CHAIN_RPC_URL = env.str("CHAIN_RPC_URL", default="http://127.0.0.1:8545")
CHAIN_ID = env.int("CHAIN_ID", default=31337)
CHAIN_DEPLOYMENT_FILE = Path(env.str("CHAIN_DEPLOYMENT_FILE", default=str(VAR_DIR / "deployment.json")))
CHAIN_CONFIRMATIONS = env.int("CHAIN_CONFIRMATIONS", default=0)
CHAIN_RPC_TIMEOUT = env.float("CHAIN_RPC_TIMEOUT", default=10.0)
DEPLOYER_PRIVATE_KEY = env.str("DEPLOYER_PRIVATE_KEY", default=DEV_DEPLOYER_KEY)
EXECUTOR_PRIVATE_KEY = env.str("EXECUTOR_PRIVATE_KEY", default=DEV_EXECUTOR_KEY)
RELAYER_PRIVATE_KEY = env.str("RELAYER_PRIVATE_KEY", default=DEV_RELAYER_KEY)
# Holds GUARDIAN_ROLE: enacts a security-council veto once enough members signed (see README, Execution).
COUNCIL_RELAY_PRIVATE_KEY = env.str("COUNCIL_RELAY_PRIVATE_KEY", default=DEV_COUNCIL_RELAY_KEY)

# --- Wallet sign-in (EIP-4361) ---------------------------------------------------------------
PORTAL_NAME = env.str("PORTAL_NAME", default="govapp")
# The domain and URI that sign-in messages bind; must match the host users reach.
SIWE_DOMAIN = env.str("SIWE_DOMAIN", default="127.0.0.1:8000")
SIWE_URI = env.str("SIWE_URI", default="http://127.0.0.1:8000")
SIWE_NONCE_TTL_SECONDS = env.int("SIWE_NONCE_TTL_SECONDS", default=600)
SIWE_STATEMENT = "Sign in to the governance portal. This request costs no gas."

# --- Governance rules: the one place for every threshold, period and body ----------------------
# Shares are in basis points of the total voting power at the reference block (10_000 = 100 %).
# Dev defaults: anvil accounts 5 and 6 are core developers, 7, 8 and 9 the security council.
_DEV_CORE_DEVELOPERS = ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", "0x976EA74026E726554dB657fA54763abd0C3a0aa9"]
_DEV_COUNCIL = ["0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
                "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"]
GOVERNANCE = {
    "TITLE_MAX_CHARS": env.int("PROPOSAL_TITLE_MAX_CHARS", default=200),
    "BODY_MAX_CHARS": env.int("PROPOSAL_BODY_MAX_CHARS", default=10_000),
    "DISCUSSION_PERIOD_SECONDS": env.int("DISCUSSION_PERIOD_SECONDS", default=7 * 86400),
    # Endorsing power needed to leave Endorsement, per proposal kind: share of total voting power
    # ("share_bps") or an absolute amount in token base units ("absolute").
    "ENDORSEMENT_THRESHOLD": {
        "os_upgrade": {"share_bps": 100},
        "parameter_change": {"share_bps": 50},
        "treasury_grant": {"share_bps": 50},
        "process": {"share_bps": 25},
        "informational": {"share_bps": 10},
    },
    "CORE_DEVELOPERS": env.list("CORE_DEVELOPERS", default=_DEV_CORE_DEVELOPERS),
    "CORE_REVIEW_APPROVALS": env.int("CORE_REVIEW_APPROVALS", default=2),
    "VOTING_PERIOD_SECONDS": {"default": 6 * 86400, "os_upgrade": 7 * 86400},
    "QUORUM_BPS": {"default": 1000, "os_upgrade": 2000},
    # Which choices count toward quorum (OpenZeppelin Governor: For + Abstain).
    "QUORUM_COUNTS": ("for", "abstain"),
    "VOTE_REASON_MAX_CHARS": 5000,
    "VOTE_TIMESTAMP_PAST_SECONDS": 6 * 86400,
    "VOTE_TIMESTAMP_FUTURE_SECONDS": 300,
    "SECURITY_COUNCIL": env.list("SECURITY_COUNCIL", default=_DEV_COUNCIL),
    "SECURITY_COUNCIL_THRESHOLD": env.int("SECURITY_COUNCIL_THRESHOLD", default=2),
    "EXECUTION_CONFIRMATIONS": env.int("EXECUTION_CONFIRMATIONS", default=1),
}

# Every handler redacts secrets (govapp.security.RedactSecretsFilter); Celery's own handlers get the filter
# too (govapp/celery.py). Django's loggers propagate to the root handler instead of keeping Django's defaults.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "govapp.security.RedactSecretsFilter"}},
    "formatters": {"django.server": {"()": "django.utils.log.ServerFormatter",
                                     "format": "[{server_time}] {message}", "style": "{"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server",
                          "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # LOG_LEVEL for Django's loggers too (Django's defaults set INFO on "django"): ERROR silences the "Bad
        # Request" warning django.request writes for every 4xx
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

# Refuse to run in production on development defaults (raises ImproperlyConfigured, saying why).
if not DEBUG:
    from govapp.production import check_production_settings

    check_production_settings(globals())
