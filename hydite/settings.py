"""Hydite settings: the only module that reads the environment.

Defaults make `make run` work on a laptop; production differs only by
environment variables (see .env.example). Settings start nothing: the
`hydite.devstack` launcher starts the embedded services and passes their URLs.
"""

import base64
import hashlib
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


DEBUG = _env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "hydite-insecure-development-key-do-not-use-in-production"  # noqa: S105

# Fernet keys for secrets at rest (provider credentials); the first encrypts, all decrypt,
# so a new key is rotated in by putting it first.
HYDITE_FERNET_KEYS = _env_list("HYDITE_FERNET_KEYS", "")
if not HYDITE_FERNET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("HYDITE_FERNET_KEYS must be set when DEBUG is off.")
    HYDITE_FERNET_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,.localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

# The public host of the Shared Edge; Dedicated instances live on subdomains of
# HYDITE_INSTANCE_DOMAIN (acme.<HYDITE_INSTANCE_DOMAIN>).
HYDITE_INSTANCE_DOMAIN = os.environ.get("HYDITE_INSTANCE_DOMAIN", "localhost")
HYDITE_SITE_URL = os.environ.get("HYDITE_SITE_URL", "http://localhost:8000")

# ---------------------------------------------------------------- applications
SHARED_APPS = [
    "django_tenants",
    "apps.core",
    "apps.tenancy",
    "apps.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "apps.accounts.admin_config.HyditeAdminConfig",  # django.contrib.admin, with a throttled login page
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.dashboard",
    "apps.billing",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "apps.orgs",
    "apps.audit",
    "apps.providers",
    "apps.channels",
    "apps.keys",
    "apps.spend",
    "apps.notifications",
    "apps.quotas",
    "apps.wallet",
    "apps.demo",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenancy.Instance"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
DEFAULT_NOT_FOUND_TENANT_VIEW = "apps.tenancy.views.unknown_host"
SHARED_EDGE_SCHEMA = "edge"

MIDDLEWARE = [
    # Static files are the same for every instance: served before a tenant (and a pooled connection) is taken.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.VerifiedEmailMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "hydite.urls"
CSRF_FAILURE_VIEW = "apps.dashboard.error_pages.csrf_failure"
WSGI_APPLICATION = "hydite.wsgi.application"
ASGI_APPLICATION = "hydite.asgi.application"

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
                "apps.dashboard.context_processors.navigation",
                "apps.notifications.context_processors.budget_alert_banner",
            ],
        },
    }
]

# -------------------------------------------------------------------- database
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use `make run` / `make test` (they start an embedded "
        "PostgreSQL) or point DATABASE_URL at a PostgreSQL server."
    )
# No persistent connections: under ASGI each request runs in a thread of its own, and a connection kept per
# thread outlives the thread. Instead each process borrows from a pool of at most DB_POOL_MAX_SIZE connections
# (psycopg's, through Django) and gives the connection back when the request (or Celery task) ends; a burst
# waits up to DB_POOL_TIMEOUT_S for one instead of opening more than PostgreSQL's max_connections allows.
# DB_POOL_MAX_SIZE=0: no pool, a connection per request (e.g. behind PgBouncer).
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DB_POOL_MAX_SIZE = _env_int("DB_POOL_MAX_SIZE", 10)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(max(0, _env_int("DB_POOL_MIN_SIZE", 1)), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": _env_int("DB_POOL_TIMEOUT_S", 30),
    }
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ----------------------------------------------------------------------- redis
REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Use `make run` / `make test` (they start an embedded "
        "Redis-compatible server) or point REDIS_URL at Redis 7."
    )
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "hydite"),
        # Schema first in every key: tenants never share cache entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
    }
}

# Kombu names a Redis unix socket redis+socket://; redis-py names it unix://.
_CELERY_REDIS_URL = (
    "redis+socket://" + REDIS_URL.removeprefix("unix://") if REDIS_URL.startswith("unix://") else REDIS_URL
)
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or _CELERY_REDIS_URL
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "") or _CELERY_REDIS_URL
CELERY_RESULT_EXPIRES = 24 * 60 * 60
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below (secrets redacted)

# --------------------------------------------------------------- management API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.keys.authentication.ManagementKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.json_input.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # ?format= is a parameter of our own (GET /spend/report?format=csv), not a renderer override.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hydite management API",
    "DESCRIPTION": "Keys and spend. Authenticate with a session or `Authorization: Bearer sk-hydite-admin-…`.",
    "VERSION": "1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --------------------------------------------------------------------- accounts
AUTH_USER_MODEL = "accounts.User"
# One backend for both login pages (allauth's and the admin's): allauth's, behind the login throttle.
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.ThrottledAuthenticationBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
# One address an account: a second one, confirmed by someone who clicks a link they did not ask for, would
# let an account be found by (and attached to organisations for) an address its holder does not own.
ACCOUNT_MAX_EMAIL_ADDRESSES = 1
# Not configurable: an account does nothing (no log-in, no organisation) before it confirms its address.
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True  # in the browser that signed up
ACCOUNT_PREVENT_ENUMERATION = True  # a taken address gets the same page as a new one, and a mail
# allauth's failed-login limit refuses an address's right password from anywhere: the login throttle instead.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
# Per (account, client address) and per client address: free failures, then waits from the base delay,
# doubling per failure up to the maximum; counts forgotten this long after the last failure.
LOGIN_THROTTLE_FREE_FAILURES = _env_int("LOGIN_THROTTLE_FREE_FAILURES", 5)
LOGIN_THROTTLE_IP_FREE_FAILURES = _env_int("LOGIN_THROTTLE_IP_FREE_FAILURES", 50)
LOGIN_THROTTLE_BASE_DELAY_S = _env_int("LOGIN_THROTTLE_BASE_DELAY_S", 10)
LOGIN_THROTTLE_MAX_DELAY_S = _env_int("LOGIN_THROTTLE_MAX_DELAY_S", 15 * 60)
LOGIN_THROTTLE_FORGET_S = _env_int("LOGIN_THROTTLE_FORGET_S", 24 * 60 * 60)
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Hydite <noreply@localhost>")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or None  # for EMAIL_BACKEND ...filebased.EmailBackend

# --------------------------------------------------------------------- security
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# -------------------------------------------------------------- i18n and static
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", "") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# ---------------------------------------------------------------------- logging
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
# Every record goes through one handler whose filter redacts keys and tokens (URLs carry them:
# GET /key/info?key=sk-…). Django's and uvicorn's loggers come with handlers of their own, so they are
# named here to drop those and propagate to ours; Celery keeps this configuration (no root hijack).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "apps.core.log_redaction.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        **{
            name: {"handlers": [], "propagate": True}
            for name in ("django", "django.server", "uvicorn", "uvicorn.error", "uvicorn.access")
        },
    },
}

# ------------------------------------------------------------------------ seed
HYDITE_ADMIN_EMAIL = os.environ.get("HYDITE_ADMIN_EMAIL", "admin@hydite.localhost")
HYDITE_ADMIN_PASSWORD = os.environ.get("HYDITE_ADMIN_PASSWORD", "")
INVITATION_TTL_DAYS = _env_int("INVITATION_TTL_DAYS", 7)
# Where the demo Default Channel sends its models: the built-in mock provider.
HYDITE_MOCK_PROVIDER_URL = os.environ.get("HYDITE_MOCK_PROVIDER_URL", "http://127.0.0.1:9100/v1")

# ------------------------------------------------------------------- gateway
GATEWAY_MAX_BODY_BYTES = _env_int("GATEWAY_MAX_BODY_BYTES", 4 * 1024 * 1024)
GATEWAY_UPSTREAM_TIMEOUT_S = _env_int("GATEWAY_UPSTREAM_TIMEOUT_S", 600)
GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S = _env_int("GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S", 10)
# How long a process trusts its in-memory copy of a key or channel: a revoked key
# stops working everywhere within this many milliseconds.
GATEWAY_SNAPSHOT_TTL_MS = _env_int("GATEWAY_SNAPSHOT_TTL_MS", 1000)
# Upstream URLs may not reach loopback, private, link-local, CGNAT or metadata addresses (nor IPv6 forms
# carrying them), except hosts, addresses or CIDRs listed here by the operator, each with an optional port
# (`127.0.0.1:9100`, `[::1]:9100`, `mock.internal:9100`, `10.0.0.0/8`; make run lists the mock provider's).
GATEWAY_UPSTREAM_ALLOWLIST = _env_list("GATEWAY_UPSTREAM_ALLOWLIST", "")
GATEWAY_UPSTREAM_REQUIRE_HTTPS = _env_bool("GATEWAY_UPSTREAM_REQUIRE_HTTPS", not DEBUG)
# Redis connections per gateway process (requests beyond it wait for one).
GATEWAY_REDIS_MAX_CONNECTIONS = _env_int("GATEWAY_REDIS_MAX_CONNECTIONS", 64)
# When Redis (quota counters) is unreachable: "closed" answers 503 quota_unavailable to requests that
# have limits; "open" serves them with per-process RPM/TPM limits (budgets unchecked) until it returns.
GATEWAY_QUOTA_REDIS_DOWN = os.environ.get("GATEWAY_QUOTA_REDIS_DOWN", "closed").strip().lower()
if GATEWAY_QUOTA_REDIS_DOWN not in {"closed", "open"}:
    raise ImproperlyConfigured("GATEWAY_QUOTA_REDIS_DOWN is closed or open")
# The Shared Edge's gateway layer: a sliding-window limit per key and per client IP (0 turns one off).
GATEWAY_DEFAULT_RPM = _env_int("GATEWAY_DEFAULT_RPM", 60)
GATEWAY_DEFAULT_TPM = _env_int("GATEWAY_DEFAULT_TPM", 1_000_000)
# Tokens reserved per choice for a chat completion that sets no max_tokens (budgets and TPM reserve the worst
# case); a non-streamed one that spends a budget is capped there (finish_reason "length").
GATEWAY_DEFAULT_RESERVE_TOKENS = max(1, _env_int("GATEWAY_DEFAULT_RESERVE_TOKENS", 4096))
# The prompt tokens an input image is reserved at (gpt-4o's largest high-detail image is 1,105, Claude's
# ~1,600, gpt-4.1-nano's ~3,800; gpt-4o-mini counts one at up to ~37,000, at a price that makes it cost the same).
GATEWAY_IMAGE_RESERVE_TOKENS = max(1, _env_int("GATEWAY_IMAGE_RESERVE_TOKENS", 4096))
# A stream that runs past its reservation reserves this many more tokens at a time (budgets and TPM).
GATEWAY_STREAM_EXTEND_TOKENS = max(1, _env_int("GATEWAY_STREAM_EXTEND_TOKENS", 1024))
# The client IP comes from this header only when the TCP peer is one of these proxies (CIDRs).
GATEWAY_TRUSTED_PROXIES = _env_list("GATEWAY_TRUSTED_PROXIES", "")
GATEWAY_CLIENT_IP_HEADER = os.environ.get("GATEWAY_CLIENT_IP_HEADER", "x-forwarded-for").lower()
# ------------------------------------------------------------- notifications
# Webhook URLs (tenant-supplied) are checked like upstreams, at save and at send time, against their own
# allow-list: opening a host to LLM upstreams (GATEWAY_UPSTREAM_ALLOWLIST) does not open it to webhooks.
WEBHOOK_ALLOWLIST = _env_list("WEBHOOK_ALLOWLIST", "")
WEBHOOK_REQUIRE_HTTPS = _env_bool("WEBHOOK_REQUIRE_HTTPS", not DEBUG)
WEBHOOK_TIMEOUT_S = _env_int("WEBHOOK_TIMEOUT_S", 5)
# Attempts per event and endpoint; a 5xx, 429, timeout or connection error is retried after
# WEBHOOK_RETRY_BASE_S * 2**(attempt - 1) seconds.
WEBHOOK_MAX_ATTEMPTS = _env_int("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_RETRY_BASE_S = _env_int("WEBHOOK_RETRY_BASE_S", 30)
# ------------------------------------------------------------------- wallet
# Failed code redemptions allowed per user and per client IP before both are locked for REDEEM_LOCKOUT_S.
REDEEM_MAX_FAILURES_PER_USER = _env_int("REDEEM_MAX_FAILURES_PER_USER", 5)
REDEEM_MAX_FAILURES_PER_IP = _env_int("REDEEM_MAX_FAILURES_PER_IP", 20)
REDEEM_LOCKOUT_S = _env_int("REDEEM_LOCKOUT_S", 15 * 60)
# ------------------------------------------------------------------- billing
# Without these the Plans page runs in test mode (staff grant plans) and the webhook answers 503.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")  # empty: Stripe's own (e.g. a stripe-mock server)
STRIPE_TIMEOUT_S = _env_int("STRIPE_TIMEOUT_S", 20)
# Local state of a developer checkout (embedded services, generated demo secrets).
# Ledger rows are kept at least 90 days (then pruned daily); roll-ups are kept forever.
SPEND_RETENTION_DAYS = _env_int("SPEND_RETENTION_DAYS", 90)
if SPEND_RETENTION_DAYS < 90:
    raise ImproperlyConfigured("SPEND_RETENTION_DAYS is at least 90")

HYDITE_STATE_DIR = Path(os.environ.get("HYDITE_STATE_DIR", "") or BASE_DIR / ".hydite")
# Finished export files (a volume the web and worker processes share, in production).
SPEND_EXPORT_DIR = Path(os.environ.get("SPEND_EXPORT_DIR", "") or HYDITE_STATE_DIR / "exports")
SPEND_EXPORT_KEEP_DAYS = max(1, _env_int("SPEND_EXPORT_KEEP_DAYS", 7))
CELERY_BEAT_SCHEDULE_FILENAME = str(HYDITE_STATE_DIR / "celerybeat-schedule")

CELERY_BEAT_SCHEDULE = {
    "invitations-purge-expired": {
        "task": "apps.orgs.tasks.invitations_purge_expired_task",
        "schedule": 24 * 60 * 60,
    },
    "subscriptions-roll": {
        "task": "apps.billing.tasks.subscriptions_roll_task",
        "schedule": 60,
    },
    "invoices-issue": {
        "task": "apps.wallet.tasks.invoices_issue_task",
        "schedule": 60 * 60,
    },
    "wallet-snapshots-heal": {
        "task": "apps.wallet.tasks.wallet_snapshots_heal_task",
        "schedule": 60,
    },
    "wallet-periods-roll": {
        "task": "apps.wallet.tasks.wallet_periods_roll_task",
        "schedule": 60,
    },
    "spend-rollups-roll": {
        "task": "apps.spend.tasks.spend_rollups_roll_task",
        "schedule": 30,
    },
    "spend-exports-expire": {
        "task": "apps.spend.tasks.spend_exports_expire_task",
        "schedule": 24 * 60 * 60,
    },
    "spend-ledger-prune": {
        "task": "apps.spend.tasks.spend_ledger_prune_task",
        "schedule": 24 * 60 * 60,
    },
    "budget-counters-heal": {
        "task": "apps.quotas.tasks.budget_counters_heal_task",
        "schedule": 60,
    },
    "budget-alerts-dispatch-pending": {
        "task": "apps.notifications.tasks.budget_alerts_dispatch_pending_task",
        "schedule": 5 * 60,
    },
}
