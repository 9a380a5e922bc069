"""Hydite settings (DJANGO_SETTINGS_MODULE=hydite.settings): the only package that reads the environment.

Defaults make `make run` work on a laptop; production differs only by
environment variables (see .env.example). Settings start nothing: the
`hydite.devstack` launcher starts the embedded services and passes their URLs.

Django's own settings are here; the gateway's, those of Hydite's domains and Celery beat's schedule are
in this package's modules, imported by name below so that Django sees them (hence no use of them here).
"""

import base64
import hashlib
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from hydite.settings.base import BASE_DIR, DEBUG, HYDITE_STATE_DIR, env_bool, env_int, env_list
from hydite.settings.domains import (
    REDEEM_LOCKOUT_S,
    REDEEM_MAX_FAILURES_PER_IP,
    REDEEM_MAX_FAILURES_PER_USER,
    SPEND_EXPORT_DIR,
    SPEND_EXPORT_KEEP_DAYS,
    SPEND_RETENTION_DAYS,
    STRIPE_API_BASE,
    STRIPE_SECRET_KEY,
    STRIPE_TIMEOUT_S,
    STRIPE_WEBHOOK_SECRET,
    WEBHOOK_ALLOWLIST,
    WEBHOOK_MAX_ATTEMPTS,
    WEBHOOK_REQUIRE_HTTPS,
    WEBHOOK_RETRY_BASE_S,
    WEBHOOK_TIMEOUT_S,
)
from hydite.settings.gateway import (
    GATEWAY_CLIENT_IP_HEADER,
    GATEWAY_DEFAULT_RESERVE_TOKENS,
    GATEWAY_DEFAULT_RPM,
    GATEWAY_DEFAULT_TPM,
    GATEWAY_IMAGE_RESERVE_TOKENS,
    GATEWAY_MAX_BODY_BYTES,
    GATEWAY_QUOTA_REDIS_DOWN,
    GATEWAY_REDIS_MAX_CONNECTIONS,
    GATEWAY_SNAPSHOT_TTL_MS,
    GATEWAY_STREAM_EXTEND_TOKENS,
    GATEWAY_TRUSTED_PROXIES,
    GATEWAY_UPSTREAM_ALLOWLIST,
    GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S,
    GATEWAY_UPSTREAM_REQUIRE_HTTPS,
    GATEWAY_UPSTREAM_TIMEOUT_S,
)
from hydite.settings.schedule import (
    CELERY_BEAT_SCHEDULE,
    CELERY_BEAT_SCHEDULE_FILENAME,
)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "hydite-insecure-development-key-do-not-use-in-production"  # noqa: S105

# Fernet keys for secrets at rest (provider credentials); the first encrypts, all decrypt,
# so a new key is rotated in by putting it first.
HYDITE_FERNET_KEYS = env_list("HYDITE_FERNET_KEYS", "")
if not HYDITE_FERNET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("HYDITE_FERNET_KEYS must be set when DEBUG is off.")
    HYDITE_FERNET_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,.localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

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
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(max(0, env_int("DB_POOL_MIN_SIZE", 1)), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_int("DB_POOL_TIMEOUT_S", 30),
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
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
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
LOGIN_THROTTLE_FREE_FAILURES = env_int("LOGIN_THROTTLE_FREE_FAILURES", 5)
LOGIN_THROTTLE_IP_FREE_FAILURES = env_int("LOGIN_THROTTLE_IP_FREE_FAILURES", 50)
LOGIN_THROTTLE_BASE_DELAY_S = env_int("LOGIN_THROTTLE_BASE_DELAY_S", 10)
LOGIN_THROTTLE_MAX_DELAY_S = env_int("LOGIN_THROTTLE_MAX_DELAY_S", 15 * 60)
LOGIN_THROTTLE_FORGET_S = env_int("LOGIN_THROTTLE_FORGET_S", 24 * 60 * 60)
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
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Hydite <noreply@localhost>")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or None  # for EMAIL_BACKEND ...filebased.EmailBackend

# --------------------------------------------------------------------- security
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("USE_X_FORWARDED_PROTO", False):
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
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)
# Where the demo Default Channel sends its models: the built-in mock provider.
HYDITE_MOCK_PROVIDER_URL = os.environ.get("HYDITE_MOCK_PROVIDER_URL", "http://127.0.0.1:9100/v1")
