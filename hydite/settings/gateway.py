"""The /v1 gateway's settings (GATEWAY_*): limits, timeouts, upstream safety, quota defaults."""

import os

from django.core.exceptions import ImproperlyConfigured

from hydite.settings.base import DEBUG, env_bool, env_int, env_list

GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 4 * 1024 * 1024)
GATEWAY_UPSTREAM_TIMEOUT_S = env_int("GATEWAY_UPSTREAM_TIMEOUT_S", 600)
GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S = env_int("GATEWAY_UPSTREAM_CONNECT_TIMEOUT_S", 10)
# How long a process trusts its in-memory copy of a key or channel: a revoked key
# stops working everywhere within this many milliseconds.
GATEWAY_SNAPSHOT_TTL_MS = env_int("GATEWAY_SNAPSHOT_TTL_MS", 1000)
# Upstream URLs may not reach loopback, private, link-local, CGNAT or metadata addresses (nor IPv6 forms
# carrying them), except hosts, addresses or CIDRs listed here by the operator, each with an optional port
# (`127.0.0.1:9100`, `[::1]:9100`, `mock.internal:9100`, `10.0.0.0/8`; make run lists the mock provider's).
GATEWAY_UPSTREAM_ALLOWLIST = env_list("GATEWAY_UPSTREAM_ALLOWLIST", "")
GATEWAY_UPSTREAM_REQUIRE_HTTPS = env_bool("GATEWAY_UPSTREAM_REQUIRE_HTTPS", not DEBUG)
# Redis connections per gateway process (requests beyond it wait for one).
GATEWAY_REDIS_MAX_CONNECTIONS = env_int("GATEWAY_REDIS_MAX_CONNECTIONS", 64)
# When Redis (quota counters) is unreachable: "closed" answers 503 quota_unavailable to requests that
# have limits; "open" serves them with per-process RPM/TPM limits (budgets unchecked) until it returns.
GATEWAY_QUOTA_REDIS_DOWN = os.environ.get("GATEWAY_QUOTA_REDIS_DOWN", "closed").strip().lower()
if GATEWAY_QUOTA_REDIS_DOWN not in {"closed", "open"}:
    raise ImproperlyConfigured("GATEWAY_QUOTA_REDIS_DOWN is closed or open")
# The Shared Edge's gateway layer: a sliding-window limit per key and per client IP (0 turns one off).
GATEWAY_DEFAULT_RPM = env_int("GATEWAY_DEFAULT_RPM", 60)
GATEWAY_DEFAULT_TPM = env_int("GATEWAY_DEFAULT_TPM", 1_000_000)
# Tokens reserved per choice for a chat completion that sets no max_tokens (budgets and TPM reserve the worst
# case); a non-streamed one that spends a budget is capped there (finish_reason "length").
GATEWAY_DEFAULT_RESERVE_TOKENS = max(1, env_int("GATEWAY_DEFAULT_RESERVE_TOKENS", 4096))
# The prompt tokens an input image is reserved at (gpt-4o's largest high-detail image is 1,105, Claude's
# ~1,600, gpt-4.1-nano's ~3,800; gpt-4o-mini counts one at up to ~37,000, at a price that makes it cost the same).
GATEWAY_IMAGE_RESERVE_TOKENS = max(1, env_int("GATEWAY_IMAGE_RESERVE_TOKENS", 4096))
# A stream that runs past its reservation reserves this many more tokens at a time (budgets and TPM).
GATEWAY_STREAM_EXTEND_TOKENS = max(1, env_int("GATEWAY_STREAM_EXTEND_TOKENS", 1024))
# The client IP comes from this header only when the TCP peer is one of these proxies (CIDRs).
GATEWAY_TRUSTED_PROXIES = env_list("GATEWAY_TRUSTED_PROXIES", "")
GATEWAY_CLIENT_IP_HEADER = os.environ.get("GATEWAY_CLIENT_IP_HEADER", "x-forwarded-for").lower()
