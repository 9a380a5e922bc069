"""Roll-ups: every hour, day and month bucket equals the sum of its ledger rows, however the rows arrive."""

import datetime as dt
import itertools
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.spend.models import ROLLUP_DIMENSIONS, ROLLUP_MEASURES, RollupPeriod, RollupStaleDay, SpendLog, SpendRollup
from apps.spend.reports import REPORT_DIMENSIONS, ReportQuery, report_rows
from apps.spend.rollups import RollupRebuildRefused, spend_ledger_prune, spend_rollups_rebuild, spend_rollups_roll
from apps.spend.services.ledger import ledger_events_write
from apps.wallet.periods import month_bounds

pytestmark = pytest.mark.django_db
BASE = dt.datetime(2026, 10, 29, tzinfo=dt.UTC)  # the ledgers below cross a month's end
ORGS = (900_001, 900_002)  # organisations of these tests only: other tests leave committed rows of their own


def _ledger() -> Any:
    return SpendLog.objects.filter(organization_id__in=ORGS)


def _event(offset_s: int, dims: dict[str, Any], measures: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": f"req_{uuid.uuid4().hex}",
        "created_at_ms": int((BASE + dt.timedelta(seconds=offset_s)).timestamp() * 1000),
        **dims,
        **measures,
    }


events = st.builds(
    _event,
    offset_s=st.integers(min_value=0, max_value=6 * 24 * 3600),
    dims=st.fixed_dictionaries(
        {
            "organization_id": st.sampled_from(ORGS),
            "team_id": st.sampled_from([None, 11]),
            "user_id": st.sampled_from([None, 21]),
            "key_id": st.sampled_from([None, 31, 32]),
            "channel_id": st.sampled_from([None, 41]),
            "model_alias": st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5"]),
            "provider": st.sampled_from(["openai", "anthropic", ""]),
            "feature_id": st.sampled_from(["", "support-chat"]),
        }
    ),
    measures=st.fixed_dictionaries(
        {
            "status_code": st.sampled_from([200, 200, 429, 500]),
            "cache_hit": st.booleans(),
            "prompt_tokens": st.integers(min_value=0, max_value=2_000_000),
            "completion_tokens": st.integers(min_value=0, max_value=2_000_000),
            "cost_micros": st.integers(min_value=0, max_value=10**12),
            "saved_micros": st.integers(min_value=0, max_value=10**9),
        }
    ),
)


def _bucket_start(at: dt.datetime, period: str) -> dt.datetime:
    at = at.astimezone(dt.UTC)
    if period == RollupPeriod.HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    if period == RollupPeriod.DAY:
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return month_bounds(at)[0]


def _sums_of_raw_rows(period: str) -> dict[tuple[Any, ...], Counter[str]]:
    """The buckets recomputed here, in Python, from the ledger's rows."""
    sums: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for row in _ledger():
        dims = tuple(getattr(row, "model_alias" if name == "model" else name) for name in ROLLUP_DIMENSIONS)
        bucket = sums[(_bucket_start(row.created_at, period), *dims)]
        bucket["requests"] += 1
        bucket["errors"] += row.status_code >= 400
        bucket["cache_hits"] += row.cache_hit
        for name in ("prompt_tokens", "completion_tokens", "cost_micros", "saved_micros"):
            bucket[name] += getattr(row, name)
    return sums


def _buckets(period: str, organizations: tuple[int, ...] = ORGS) -> dict[tuple[Any, ...], Counter[str]]:
    found = {}
    for rollup in SpendRollup.objects.filter(period=period, organization_id__in=organizations):
        key = (rollup.bucket, *(getattr(rollup, name) for name in ROLLUP_DIMENSIONS))
        assert key not in found, "one bucket per combination"
        found[key] = Counter({name: getattr(rollup, name) for name in ROLLUP_MEASURES if getattr(rollup, name)})
    return found


def _assert_every_bucket_is_the_sum_of_its_rows() -> None:
    for period in RollupPeriod.values:
        expected = {key: +sums for key, sums in _sums_of_raw_rows(period).items()}
        assert _buckets(period) == expected, period


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ledger=st.lists(events, min_size=1, max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=4),
    resent=st.lists(st.integers(min_value=0, max_value=59), max_size=8),
    roll_between=st.booleans(),
)
def test_every_rollup_is_the_sum_of_its_rows_whatever_the_batches_order_and_repeats(
    edge, ledger, cuts, resent, roll_between
):
    """Random ledgers, written in random batches, in shuffled time order (late rows), with events sent
    again (a consumer retrying): every bucket equals its rows' sums, to the micro-USD."""
    with transaction.atomic():  # each example starts from this test's ledger: its writes are rolled back
        bounds = sorted({0, len(ledger), *(min(cut, len(ledger)) for cut in cuts)})
        for start, end in itertools.pairwise(bounds):
            again = [ledger[index] for index in resent if index < start]
            ledger_events_write(ledger[start:end] + again)
            if roll_between:
                spend_rollups_roll()
        spend_rollups_roll()
        assert _ledger().count() == len(ledger)
        assert not RollupStaleDay.objects.exists()
        _assert_every_bucket_is_the_sum_of_its_rows()

        before = {period: _buckets(period) for period in RollupPeriod.values}
        RollupStaleDay.objects.bulk_create(
            RollupStaleDay(day=day) for day in {_bucket_start(row.created_at, "day").date() for row in _ledger()}
        )
        spend_rollups_roll()  # recomputing every day and month again changes nothing
        assert {period: _buckets(period) for period in RollupPeriod.values} == before
        transaction.set_rollback(True)


def test_a_late_row_lands_in_its_own_hour_and_its_day_and_month_follow(edge):
    on_time = _event(3600, {"organization_id": 900_003, "model_alias": "m"}, {"status_code": 200, "cost_micros": 5})
    ledger_events_write([on_time])
    spend_rollups_roll()
    late = _event(3600 + 59, {"organization_id": 900_003, "model_alias": "m"}, {"status_code": 500, "cost_micros": 7})
    ledger_events_write([late])  # the consumer was down: its hour and day closed long ago
    assert RollupStaleDay.objects.filter(day=(BASE + dt.timedelta(hours=1)).date()).exists()
    spend_rollups_roll()
    for period in RollupPeriod.values:
        bucket = SpendRollup.objects.get(period=period, organization_id=900_003)
        assert (bucket.requests, bucket.errors, bucket.cost_micros) == (2, 1, 12), period
        assert bucket.bucket == _bucket_start(BASE + dt.timedelta(hours=1), period)


def test_rebuild_from_the_ledger_gives_the_same_buckets_and_old_hours_are_refused(edge):
    now = dt.datetime.now(dt.UTC)
    rows = [
        _event(
            0,
            {"organization_id": 900_004, "model_alias": "m", "key_id": key},
            {"status_code": 200, "cost_micros": cost},
        )
        for key, cost in ((1, 3), (1, 4), (2, 5))
    ]
    for row in rows:
        row["created_at_ms"] = int((now - dt.timedelta(hours=2)).timestamp() * 1000)
    ledger_events_write(rows)
    spend_rollups_roll()
    before = {period: _buckets(period, (900_004,)) for period in RollupPeriod.values}
    assert [len(before[period]) for period in RollupPeriod.values] == [2, 2, 2]  # two keys' buckets
    assert spend_rollups_rebuild(start=now - dt.timedelta(hours=3), end=now) >= 2
    spend_rollups_roll()
    assert {period: _buckets(period, (900_004,)) for period in RollupPeriod.values} == before
    with pytest.raises(RollupRebuildRefused):
        spend_rollups_rebuild(start=now - dt.timedelta(days=91), end=now)


def test_retention_prunes_old_ledger_rows_and_keeps_their_rollups(edge, settings):
    settings.SPEND_RETENTION_DAYS = 90
    now = dt.datetime.now(dt.UTC)
    old, recent = now - dt.timedelta(days=91), now - dt.timedelta(days=89)
    ledger_events_write(
        [
            {
                **_event(0, {"organization_id": 900_005, "model_alias": "m"}, {"status_code": 200, "cost_micros": 9}),
                "created_at_ms": int(at.timestamp() * 1000),
            }
            for at in (old, old, recent)
        ]
    )
    spend_rollups_roll()
    before = {period: _buckets(period, (900_005,)) for period in RollupPeriod.values}
    assert spend_ledger_prune(now=now) >= 2
    assert list(SpendLog.objects.filter(organization_id=900_005).values_list("created_at", flat=True)) == [
        recent.replace(microsecond=recent.microsecond // 1000 * 1000)
    ]
    assert {period: _buckets(period, (900_005,)) for period in RollupPeriod.values} == before
    assert spend_ledger_prune(now=now) == 0


def _expected_report(query: ReportQuery) -> dict[tuple[Any, ...], Counter[str]]:
    sums: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for row in _ledger().filter(created_at__gte=query.start_at, created_at__lt=query.end_at):
        if row.organization_id != query.organization_id:
            continue
        key = tuple(
            getattr(row, "model_alias" if name == "model" else REPORT_DIMENSIONS[name]) for name in query.group_by
        )
        if query.bucket:
            key = (_bucket_start(row.created_at, query.bucket), *key)
        bucket = sums[key]
        bucket["requests"] += 1
        bucket["errors"] += row.status_code >= 400
        bucket["cache_hits"] += row.cache_hit
        for name in ("prompt_tokens", "completion_tokens", "cost_micros", "saved_micros"):
            bucket[name] += getattr(row, name)
    return {key: +counter for key, counter in sums.items()}


def _reported(query: ReportQuery) -> dict[tuple[Any, ...], Counter[str]]:
    found = {}
    for row in report_rows(query):
        key = tuple(row[name] for name in query.group_by)
        if query.bucket:
            key = (row["bucket"], *key)
        found[key] = +Counter({name: row[name] for name in ROLLUP_MEASURES})
    return {key: counter for key, counter in found.items() if counter}


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ledger=st.lists(events, min_size=1, max_size=40),
    rolled=st.integers(min_value=0, max_value=40),
    first_day=st.integers(min_value=0, max_value=6),
    days=st.integers(min_value=0, max_value=6),
    bucket=st.sampled_from(["", "hour", "day", "month"]),
    group_by=st.lists(st.sampled_from(sorted(REPORT_DIMENSIONS)), unique=True, max_size=3),
    organization_id=st.sampled_from(ORGS),
)
def test_a_report_equals_the_sums_of_its_rows_whichever_buckets_it_reads(
    edge, ledger, rolled, first_day, days, bucket, group_by, organization_id
):
    """Some rows folded into day and month buckets, the rest only in hours (their days stale): a report of
    any range, bucket and grouping still equals its ledger rows' sums."""
    with transaction.atomic():  # each example starts from this test's ledger: its writes are rolled back
        ledger_events_write(ledger[:rolled])
        spend_rollups_roll()
        ledger_events_write(ledger[rolled:])
        start = BASE.date() + dt.timedelta(days=first_day)
        query = ReportQuery(
            start=start,
            end=start + dt.timedelta(days=days),
            organization_id=organization_id,
            bucket=bucket,
            group_by=group_by,
        )
        assert _reported(query) == _expected_report(query)
        whole = ReportQuery(start=dt.date(2026, 10, 1), end=dt.date(2026, 11, 30), organization_id=ORGS[0])
        assert _reported(whole) == _expected_report(whole)
        spend_rollups_roll()
        assert _reported(whole) == _expected_report(whole)
        transaction.set_rollback(True)


def test_a_roll_waits_for_a_consumer_transaction_in_flight(committed):
    """A consumer whose day is already stale adds no mark; the roll must not fold its day without its rows."""
    import threading

    org = 900_000 + int(uuid.uuid4().int % 90_000)
    at_ms = int(dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC).timestamp() * 1000)
    row = {"organization_id": org, "model_alias": "m", "status_code": 200, "created_at_ms": at_ms}
    committed(ledger_events_write, [{**row, "request_id": f"req_{uuid.uuid4().hex}", "cost_micros": 1}])
    written, release, rolled = threading.Event(), threading.Event(), threading.Event()

    def consumer() -> None:
        with transaction.atomic():
            ledger_events_write([{**row, "request_id": f"req_{uuid.uuid4().hex}", "cost_micros": 10}])
            written.set()
            release.wait(10)  # still in its transaction (the wallet debit, the alerts …)

    def roll() -> None:
        written.wait(10)
        spend_rollups_roll()
        rolled.set()

    in_flight = threading.Thread(target=committed, args=(consumer,))
    roller = threading.Thread(target=committed, args=(roll,))
    in_flight.start()
    roller.start()
    try:
        waited = not rolled.wait(1.0)
    finally:
        release.set()
        in_flight.join(10)
        roller.join(10)
    assert waited, "the roll did not wait for the consumer's transaction"
    assert rolled.is_set()
    day = committed(lambda: SpendRollup.objects.get(period=RollupPeriod.DAY, organization_id=org))
    assert (day.requests, day.cost_micros) == (2, 11)


def test_a_rebuild_clears_the_day_of_an_hour_whose_rows_are_gone(edge):
    now = dt.datetime.now(dt.UTC).replace(minute=30)
    ledger_events_write(
        [
            _event(0, {"organization_id": 900_006, "model_alias": "m"}, {"status_code": 200, "cost_micros": 5})
            | {"created_at_ms": int(now.timestamp() * 1000)}
        ]
    )
    spend_rollups_roll()
    assert SpendRollup.objects.filter(period=RollupPeriod.DAY, organization_id=900_006).exists()
    SpendLog.objects.filter(organization_id=900_006).delete()  # an operator removed them
    spend_rollups_rebuild(start=now - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1))
    spend_rollups_roll()
    assert not SpendRollup.objects.filter(organization_id=900_006).exists()
