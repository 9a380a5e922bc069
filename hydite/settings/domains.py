"""Settings of Hydite's own domains: webhooks (notifications), code redemption (wallet), Stripe (billing), spend."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from hydite.settings.base import DEBUG, HYDITE_STATE_DIR, env_bool, env_int, env_list

# ------------------------------------------------------------- notifications
# Webhook URLs (tenant-supplied) are checked like upstreams, at save and at send time, against their own
# allow-list: opening a host to LLM upstreams (GATEWAY_UPSTREAM_ALLOWLIST) does not open it to webhooks.
WEBHOOK_ALLOWLIST = env_list("WEBHOOK_ALLOWLIST", "")
WEBHOOK_REQUIRE_HTTPS = env_bool("WEBHOOK_REQUIRE_HTTPS", not DEBUG)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 5)
# Attempts per event and endpoint; a 5xx, 429, timeout or connection error is retried after
# WEBHOOK_RETRY_BASE_S * 2**(attempt - 1) seconds.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_RETRY_BASE_S = env_int("WEBHOOK_RETRY_BASE_S", 30)
# ------------------------------------------------------------------- wallet
# Failed code redemptions allowed per user and per client IP before both are locked for REDEEM_LOCKOUT_S.
REDEEM_MAX_FAILURES_PER_USER = env_int("REDEEM_MAX_FAILURES_PER_USER", 5)
REDEEM_MAX_FAILURES_PER_IP = env_int("REDEEM_MAX_FAILURES_PER_IP", 20)
REDEEM_LOCKOUT_S = env_int("REDEEM_LOCKOUT_S", 15 * 60)
# ------------------------------------------------------------------- billing
# Without these the Plans page runs in test mode (staff grant plans) and the webhook answers 503.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")  # empty: Stripe's own (e.g. a stripe-mock server)
STRIPE_TIMEOUT_S = env_int("STRIPE_TIMEOUT_S", 20)
# ------------------------------------------------------------------- spend
# Ledger rows are kept at least 90 days (then pruned daily); roll-ups are kept forever.
SPEND_RETENTION_DAYS = env_int("SPEND_RETENTION_DAYS", 90)
if SPEND_RETENTION_DAYS < 90:
    raise ImproperlyConfigured("SPEND_RETENTION_DAYS is at least 90")
# Finished export files (a volume the web and worker processes share, in production).
SPEND_EXPORT_DIR = Path(os.environ.get("SPEND_EXPORT_DIR", "") or HYDITE_STATE_DIR / "exports")
SPEND_EXPORT_KEEP_DAYS = max(1, env_int("SPEND_EXPORT_KEEP_DAYS", 7))
