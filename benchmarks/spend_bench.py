"""Billing pages and finance exports over a large ledger.

    .venv/bin/python benchmarks/spend_bench.py [--rows 5000000] [--repeat 5]

Starts (embedded, unless DATABASE_URL/REDIS_URL say otherwise) PostgreSQL and Redis, migrates, seeds
the demo organisation with 50 keys over 5 teams and 10 users, then writes --rows ledger rows spread
over the last 89 days (12 models, 4 features, 5 % errors) and their roll-ups. It prints:

- how fast the consumer's own write path (ledger + hour roll-ups + wallet, one transaction a batch)
  takes rows, on 100,000 more;
- each Billing / Revenue page's render time (median and worst of --repeat, in-process through
  Django's full middleware stack, logged in), with the number of SQL queries it ran;
- an export of every request (all --rows of them, in each of --export-formats) by
  `manage.py spend_report`, the code the Celery export job runs: rows/s and the process's peak RSS.

Each run starts from empty embedded databases (.hydite/pg-spend-bench, .hydite/redis-spend-bench).

Pages read roll-ups only; the figures are recorded in README. Loopback only, bounded by --rows.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hydite.devstack import PidFile, service_env  # noqa: E402

PYTHON = sys.executable
KEYS, TEAMS, USERS = 50, 5, 10
MODELS = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "deepseek-chat",
    "qwen-plus",
    "text-embedding-3-small",
    "mistral-large",
]
PROVIDERS = [
    "openai",
    "openai",
    "openai",
    "openai",
    "anthropic",
    "anthropic",
    "gemini",
    "gemini",
    "deepseek",
    "qwen",
    "openai",
    "mistral",
]
FEATURES = ["support-chat", "search", "summaries", ""]
CHUNK = 500_000


def seed_holders() -> list[tuple[int, int, int, int]]:
    """50 keys of the demo organisation over 5 teams and 10 users: (key, user, team, channel)."""
    from apps.accounts.models import User
    from apps.accounts.services import user_create
    from apps.keys.services import key_generate
    from apps.orgs.models import Organization
    from apps.orgs.roles import Role
    from apps.orgs.services.joining import member_add
    from apps.orgs.services.organizations import team_create

    organization = Organization.objects.get(name="Hydite Demo")
    admin = organization.memberships.filter(role=Role.ORG_ADMIN).first().user  # type: ignore[union-attr]
    teams = [team_create(organization=organization, name=f"Bench team {n}", actor=admin) for n in range(TEAMS)]
    users = []
    for n in range(USERS):
        email = f"bench-{n}@example.test"
        user = User.objects.filter(email=email).first() or user_create(email=email, password=None, email_verified=True)
        member_add(organization=organization, team=teams[n % TEAMS], user=user, role=Role.DEVELOPER, actor=admin)
        users.append((user, teams[n % TEAMS]))
    holders = []
    for n in range(KEYS):
        user, team = users[n % USERS]
        key = key_generate(organization=organization, team=team, user=user, name=f"bench-key-{n}", actor=admin)[0]
        holders.append((key.pk, user.pk, team.pk, key.channel_id))
    return holders


def seed_ledger(rows: int, holders: list[tuple[int, int, int, int]]) -> float:
    """`rows` ledger rows over the last 89 days, generated in SQL (deterministic), then their roll-ups."""
    import datetime as dt

    from django.db import connection

    from apps.orgs.models import Organization
    from apps.spend.rollups import spend_rollups_rebuild, spend_rollups_roll

    organization = Organization.objects.get(name="Hydite Demo")
    arrays = {
        "keys": [h[0] for h in holders],
        "users": [h[1] for h in holders],
        "teams": [h[2] for h in holders],
        "channels": [h[3] for h in holders],
        "models": MODELS,
        "providers": PROVIDERS,
        "features": FEATURES,
    }
    insert = """
        INSERT INTO spend_spendlog (request_id, created_at, organization_id, team_id, user_id, key_id, channel_id,
            model_alias, model_resolved, provider, provider_request_id, feature_id, prompt_tokens, completion_tokens,
            total_tokens, cached_tokens, usage_estimated, cost_micros, priced, price_version, latency_gateway_ms,
            latency_provider_ms, status_code, error_code, stream, cache_hit, saved_micros, fallback_used,
            fallback_chain)
        SELECT 'bench_' || g, now() - make_interval(secs => (g * 104729) %% (89 * 86400)), %(org)s,
            (%(teams)s::bigint[])[1 + g %% 50], (%(users)s::bigint[])[1 + g %% 50], (%(keys)s::bigint[])[1 + g %% 50],
            (%(channels)s::bigint[])[1 + g %% 50], (%(models)s::text[])[1 + (g * 7919) %% 12],
            (%(models)s::text[])[1 + (g * 7919) %% 12], (%(providers)s::text[])[1 + (g * 7919) %% 12],
            'req_' || md5(g::text), (%(features)s::text[])[1 + (g * 31) %% 4], 50 + (g * 13) %% 2000,
            (g * 17) %% 500, 50 + (g * 13) %% 2000 + (g * 17) %% 500, 0, false, 1 + (g * 37) %% 9000, true, '2026-12-01',
            1, 300, CASE WHEN g %% 20 = 0 THEN 429 ELSE 200 END, CASE WHEN g %% 20 = 0 THEN 'rate_limit_exceeded' ELSE '' END,
            g %% 3 = 0, g %% 11 = 0, CASE WHEN g %% 11 = 0 THEN 1 + (g * 37) %% 9000 ELSE 0 END, false, '[]'::jsonb
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
    """  # noqa: E501
    started = time.monotonic()
    with connection.cursor() as cursor:
        for first in range(1, rows + 1, CHUNK):
            last = min(rows, first + CHUNK - 1)
            cursor.execute(insert, {"org": organization.pk, "first": first, "last": last, **arrays})
            print(f"  ledger rows {last:,}/{rows:,} ({time.monotonic() - started:.0f} s)", flush=True)
        cursor.execute("ANALYZE spend_spendlog")
    now = dt.datetime.now(dt.UTC)
    hours = spend_rollups_rebuild(start=now - dt.timedelta(days=89), end=now)
    days = spend_rollups_roll()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE spend_spendrollup")
        cursor.execute("SELECT period, count(*) FROM spend_spendrollup GROUP BY 1 ORDER BY 1")
        counts = dict(cursor.fetchall())
    print(f"  roll-ups: {hours:,} hour buckets rebuilt, {days} days rolled; rows per period {counts}", flush=True)
    return time.monotonic() - started


def consumer_rate(holders: list[tuple[int, int, int, int]], count: int = 100_000, batch: int = 500) -> float:
    """Rows/s through the consumer's write path (ledger_events_write: COPY, INSERT … RETURNING, hour
    upserts, stale days, wallet debit), `batch` events a transaction, as the consumer commits them."""
    import uuid

    from django.db import transaction

    from apps.orgs.models import Organization
    from apps.spend.services.ledger import ledger_events_write

    organization = Organization.objects.get(name="Hydite Demo")
    now_ms = int(time.time() * 1000)
    started = time.monotonic()
    for first in range(0, count, batch):
        events = []
        for n in range(first, first + batch):
            key, user, team, channel = holders[n % len(holders)]
            events.append(
                {
                    "request_id": f"req_{uuid.uuid4().hex}",
                    "created_at_ms": now_ms - n,
                    "organization_id": organization.pk,
                    "team_id": team,
                    "user_id": user,
                    "key_id": key,
                    "channel_id": channel,
                    "model_alias": MODELS[n % len(MODELS)],
                    "provider": PROVIDERS[n % len(MODELS)],
                    "prompt_tokens": 120,
                    "completion_tokens": 40,
                    "total_tokens": 160,
                    "cost_micros": 42,
                    "status_code": 200,
                }
            )
        with transaction.atomic():
            ledger_events_write(events)
    return count / (time.monotonic() - started)


def time_pages(repeat: int) -> list[tuple[str, float, float, int]]:
    import datetime as dt

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.orgs.models import Organization
    from apps.orgs.roles import Role

    organization = Organization.objects.get(name="Hydite Demo")
    admin = organization.memberships.filter(role=Role.ORG_ADMIN).first().user  # type: ignore[union-attr]
    host = os.environ.get("BENCH_HOST", "localhost")
    client = Client(HTTP_HOST=host)
    client.force_login(admin)
    today = dt.datetime.now(dt.UTC).date()
    base = f"/o/{organization.slug}"
    pages = [
        ("Billing, last 7 days by key (default)", f"{base}/billing/"),
        ("Billing, 2 days hourly by model", f"{base}/billing/?start={today - dt.timedelta(days=1)}&by=model"),
        ("Billing, 30 days by user", f"{base}/billing/?start={today - dt.timedelta(days=29)}&by=user"),
        ("Billing, 90 days by team", f"{base}/billing/?start={today - dt.timedelta(days=89)}&by=team"),
        ("Billing, 90 days by key", f"{base}/billing/?start={today - dt.timedelta(days=89)}&by=key"),
        ("Billing, 1 year monthly by channel", f"{base}/billing/?start={today - dt.timedelta(days=364)}&by=channel"),
        ("Revenue (staff), 12 months", f"{base}/billing/revenue/"),
    ]
    results = []
    for name, url in pages:
        first = client.get(url)
        assert first.status_code == 200, (url, first.status_code)  # noqa: S101
        samples = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
        results.append((name, statistics.median(samples), max(samples), len(queries.captured_queries)))
    return results


def export_every_request(env: dict[str, str], slug: str, out: Path, fmt: str) -> tuple[float, float, int]:
    """`manage.py spend_report --every-request` of the seeded range: seconds, peak RSS (MiB), rows."""
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    command = [
        PYTHON,
        "manage.py",
        "spend_report",
        "--org",
        slug,
        "--every-request",
        "--start",
        str(today - dt.timedelta(days=88)),
        "--end",
        str(today),
        "--format",
        fmt,
        "--output",
        str(out),
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)  # noqa: S603
    seconds = time.monotonic() - started
    # The command reports its own peak RSS (getrusage of its process): "Wrote N row(s) … (peak memory M MiB)."
    written = int(done.stdout.split("Wrote ")[1].split(" ")[0])
    peak_mib = float(done.stdout.split("peak memory ")[1].split(" ")[0])
    return seconds, peak_mib, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--export-formats", default="csv,xlsx", help="formats of the every-request export")
    args = parser.parse_args()
    state = ROOT / ".hydite" / "spend-bench"
    for data in (state, ROOT / ".hydite" / "pg-spend-bench", ROOT / ".hydite" / "redis-spend-bench"):
        shutil.rmtree(data, ignore_errors=True)  # a clean ledger each run
    state.mkdir(parents=True, exist_ok=True)
    pids = PidFile(state / "bench.pids")
    with ExitStack() as stack:
        env = service_env(stack, pids, "-spend-bench", own_session=False)
        env.update(
            {
                "DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(40),
                "ALLOWED_HOSTS": "localhost,127.0.0.1",
                "SECURE_SSL_REDIRECT": "0",
                "HYDITE_STATE_DIR": str(state),
                "LOG_LEVEL": "WARNING",
                "HYDITE_FERNET_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "HYDITE_ADMIN_PASSWORD": "bench-only-pw-1",
                "STATIC_ROOT": str(state / "static"),
                "DJANGO_SETTINGS_MODULE": "hydite.settings",
                "HYDITE_MOCK_PROVIDER_URL": "http://127.0.0.1:9/v1",  # the demo channel; never called here
                "GATEWAY_UPSTREAM_ALLOWLIST": "127.0.0.1",
            }
        )
        os.environ.update(env)
        for command in (["collectstatic", "--noinput", "-v", "0"], ["migrate_schemas", "--noinput", "-v", "0"]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True)  # noqa: S603
        subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603

        import django

        django.setup()
        from django_tenants.utils import schema_context

        print(f"Spend benchmark, {args.rows:,} ledger rows, {time.strftime('%Y-%m-%d')}", flush=True)
        with schema_context("edge"):
            holders = seed_holders()
            seeded_s = seed_ledger(args.rows, holders)
            print(f"seeded {args.rows:,} rows and their roll-ups in {seeded_s:.0f} s", flush=True)
            rate = consumer_rate(holders)
            print(f"consumer write path: {rate:,.0f} rows/s (ledger + hour roll-ups + wallet, 500 a transaction)")
            pages = time_pages(args.repeat)
            from apps.orgs.models import Organization

            slug = Organization.objects.get(name="Hydite Demo").slug
        print("\n| page | median ms | worst ms | SQL queries |\n|---|---|---|---|")
        for name, median, worst, queries in pages:
            print(f"| {name} | {median:.0f} | {worst:.0f} | {queries} |")
        for fmt in args.export_formats.split(","):
            out = state / f"every-request.{fmt}"
            seconds, peak_mib, written = export_every_request(env, slug, out, fmt)
            size_mib = out.stat().st_size / 2**20
            out.unlink()
            print(
                f"export of every request ({fmt}): {written:,} rows, {size_mib:,.0f} MiB in {seconds:.0f} s "
                f"({written / seconds:,.0f} rows/s), peak RSS {peak_mib:.0f} MiB",
                flush=True,
            )
        from django.db import connections

        connections.close_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
