"""What the Billing page shows, read from the roll-ups only (apps.spend.reports)."""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils.safestring import SafeString
from django_tenants.utils import schema_context

from apps.channels.models import Channel
from apps.core.money import usd_fixed
from apps.keys.models import VirtualKey
from apps.orgs.models import Organization, Team
from apps.spend.charts import Series, line_chart, stacked_bars
from apps.spend.models import ROLLUP_MEASURES, RollupPeriod
from apps.spend.reports import ReportQuery, report_rows
from apps.tenancy.selectors import instance_list_active
from apps.wallet.models import EntryKind, SubscriptionPayment, WalletEntry
from apps.wallet.periods import add_month, month_bounds

STACKED_SERIES = 5  # the largest groups get their own colour; the rest are summed as "other"
LEADERBOARD = 10
BREAKDOWN_ROWS = 50
NONE_LABEL = "(none)"


def _labelled_by_id(model: Any, ids: Iterable[Any], field: str) -> dict[Any, str]:
    wanted = [value for value in ids if value is not None]
    return dict(model.objects.filter(pk__in=wanted).values_list("pk", field)) if wanted else {}


def dimension_labels(dimension: str, values: Iterable[Any]) -> dict[Any, str]:
    """What a page shows for each value of a dimension (names for ids; the text itself otherwise)."""
    values = list(values)
    by_id = {
        "key": (VirtualKey, "name"),
        "team": (Team, "name"),
        "user": (get_user_model(), "email"),
        "channel": (Channel, "name"),
        "org": (Organization, "name"),
    }
    if dimension in by_id:
        model, field = by_id[dimension]
        names = _labelled_by_id(model, values, field)
        return {value: names.get(value, NONE_LABEL if value is None else f"#{value} (deleted)") for value in values}
    return {value: value or NONE_LABEL for value in values}


def bucket_starts(query: ReportQuery) -> list[dt.datetime]:
    """Every bucket of the range, empty ones included (a chart's x axis)."""
    current = query.start_at
    if query.bucket == RollupPeriod.MONTH:
        current = month_bounds(current)[0]
    starts = []
    while current < query.end_at:
        starts.append(current)
        if query.bucket == RollupPeriod.HOUR:
            current += dt.timedelta(hours=1)
        elif query.bucket == RollupPeriod.DAY:
            current += dt.timedelta(days=1)
        else:
            current = add_month(current)
    return starts


BUCKET_LABEL_FORMATS = {"hour": "%m-%d %H:00", "day": "%Y-%m-%d", "month": "%Y-%m"}


def bucket_label(start: dt.datetime, bucket: str) -> str:
    return start.strftime(BUCKET_LABEL_FORMATS[bucket])


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    rows: list[dict[str, Any]]  # one per group, by cost: label, value, measures, share, budget
    chart: SafeString


@dataclass(frozen=True)
class BillingPage:
    query: ReportQuery
    totals: dict[str, int]
    over_time: list[dict[str, Any]]  # one per bucket
    over_time_chart: SafeString
    breakdown: Breakdown
    tokens_by_model: list[dict[str, Any]]  # per bucket: label, tokens per series of the chart, total
    tokens_series: list[str]
    tokens_chart: SafeString
    top_models: list[dict[str, Any]]
    top_users: list[dict[str, Any]]


def _budgets(dimension: str, values: list[Any]) -> dict[Any, str]:
    holders: dict[str, type[VirtualKey] | type[Team]] = {"key": VirtualKey, "team": Team}
    if dimension not in holders:
        return {}
    found = holders[dimension].objects.filter(pk__in=[v for v in values if v], max_budget_micros__isnull=False)
    return {h.pk: f"{usd_fixed(h.max_budget_micros)} / {h.get_budget_duration_display().lower()}" for h in found}


def _stacked(
    starts: list[dt.datetime],
    rows: list[dict[str, Any]],
    dimension: str,
    order: list[Any],
    labels: dict[Any, str],
    value: Callable[[dict[str, Any]], int],
) -> list[Series]:
    """Series of the first STACKED_SERIES groups in `order`, and "other" for the rest, from bucketed rows."""
    index = {start: number for number, start in enumerate(starts)}
    named = order[:STACKED_SERIES]
    values = {group: [0] * len(starts) for group in named}
    other = [0] * len(starts)
    for row in rows:
        position = index.get(row["bucket"])
        if position is not None:
            values.get(row[dimension], other)[position] += value(row)
    series = [Series(labels.get(group, str(group)), values[group]) for group in named]
    return [*series, Series("other", other)] if any(other) else series


def _tokens(row: dict[str, Any]) -> int:
    return int(row["prompt_tokens"] + row["completion_tokens"])


def _cost(row: dict[str, Any]) -> int:
    return int(row["cost_micros"])


def _by_cost(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (-row["cost_micros"], -row["requests"]))


def summed(rows: Iterable[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Rows of a finer report summed by `keys` (no key: one row of totals), measures only."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        key = tuple([row[name] for name in keys])
        into = sums.get(key)
        if into is None:
            sums[key] = [row[name] for name in ROLLUP_MEASURES]
        else:
            for position, name in enumerate(ROLLUP_MEASURES):
                into[position] += row[name]
    if not sums and not keys:
        sums[()] = [0] * len(ROLLUP_MEASURES)
    return [
        dict(zip(keys, key, strict=True)) | dict(zip(ROLLUP_MEASURES, values, strict=True))
        for key, values in sums.items()
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole if whole else 0:.1f}"


def _breakdown(
    by_dimension: list[dict[str, Any]], dimension: str, *, starts: list[dt.datetime], labels_x: list[str], total: int
) -> Breakdown:
    """The drill-down table by `dimension` (by cost, at most BREAKDOWN_ROWS and a row for the rest) and its chart."""
    groups = _by_cost(summed(by_dimension, dimension))
    values = [row[dimension] for row in groups]
    labels, budgets = dimension_labels(dimension, values), _budgets(dimension, values)
    for row in groups:
        row.update(
            label=labels[row[dimension]],
            value=row[dimension],
            share=_share(row["cost_micros"], total),
            budget=budgets.get(row[dimension], ""),
        )
    spend_series = _stacked(starts, by_dimension, dimension, values, labels, _cost)
    if len(groups) > BREAKDOWN_ROWS:  # callers choose model names and features: the table stays bounded
        rest = summed(groups[BREAKDOWN_ROWS:])[0]
        more = {"label": f"{len(groups) - BREAKDOWN_ROWS} more", "value": None, "other": True}
        groups = [*groups[:BREAKDOWN_ROWS], {**rest, **more, "share": _share(rest["cost_micros"], total)}]
    chart = stacked_bars(labels=labels_x, series=spend_series, title=f"Spend by {dimension}", top_label="USD")
    return Breakdown(dimension=dimension, rows=groups, chart=chart)


@dataclass(frozen=True)
class _Tokens:
    models: list[dict[str, Any]]  # by cost
    series: list[Series]
    rows: list[dict[str, Any]]  # the chart's numbers: a row per bucket, a column per series


def _tokens_by_model(by_model: list[dict[str, Any]], *, starts: list[dt.datetime], labels_x: list[str]) -> _Tokens:
    models = _by_cost(summed(by_model, "model"))
    model_order = [row["model"] for row in models]
    series = _stacked(starts, by_model, "model", model_order, {m: m for m in model_order}, _tokens)
    rows = [
        {"label": label, "tokens": [serie.values[n] for serie in series], "total": sum(s.values[n] for s in series)}
        for n, label in enumerate(labels_x)
    ]
    return _Tokens(models=models, series=series, rows=rows)


def _top_users(query: ReportQuery) -> list[dict[str, Any]]:
    top_users = report_rows(replace(query, bucket="", group_by=("user",)), top=LEADERBOARD)
    user_labels = dimension_labels("user", [row["user"] for row in top_users])
    for row in top_users:
        row["label"] = user_labels[row["user"]]
    return top_users


def billing_page(query: ReportQuery, *, dimension: str) -> BillingPage:
    """The Billing page of one organisation (query.organization_id) over the query's range and bucket.

    Three reads of the roll-ups: per bucket and `dimension` (the totals, the line, the drill-down and its
    stacked chart are sums of it), per bucket and model (tokens, top models), and the top users.
    """
    by_dimension = report_rows(replace(query, group_by=(dimension,)))
    by_model = by_dimension if dimension == "model" else report_rows(replace(query, group_by=("model",)))
    bucket_sums = summed(by_dimension, "bucket")
    (totals,) = summed(bucket_sums)
    starts = bucket_starts(query)
    by_bucket = {row["bucket"]: row for row in bucket_sums}
    over_time = [{"label": bucket_label(start, query.bucket), **by_bucket.get(start, {})} for start in starts]
    labels_x = [row["label"] for row in over_time]
    tokens = _tokens_by_model(by_model, starts=starts, labels_x=labels_x)
    peak = max([1, *(row.get("cost_micros", 0) for row in over_time)])
    return BillingPage(
        query=query,
        totals=totals,
        over_time=over_time,
        over_time_chart=line_chart(
            labels=labels_x,
            values=[row.get("cost_micros", 0) for row in over_time],
            title="Spend over time",
            top_label=f"${usd_fixed(peak)}",
        ),
        breakdown=_breakdown(by_dimension, dimension, starts=starts, labels_x=labels_x, total=totals["cost_micros"]),
        tokens_by_model=tokens.rows,
        tokens_series=[serie.name for serie in tokens.series],
        tokens_chart=stacked_bars(labels=labels_x, series=tokens.series, title="Tokens by model", top_label="tokens"),
        top_models=tokens.models[:LEADERBOARD],
        top_users=_top_users(query),
    )


@dataclass(frozen=True)
class InstanceRevenue:
    name: str
    schema: str
    months: list[dict[str, Any]]  # month label, income by source, codes, usage cost, margin
    by_plan: list[dict[str, Any]]  # plan, subscriptions income over the range
    totals: dict[str, int]
    income_chart: SafeString
    usage_chart: SafeString


def _monthly(rows: Iterable[dict[str, Any]], month_starts: list[dt.datetime]) -> dict[dt.datetime, dict[str, Any]]:
    months = {
        start: {"subscriptions": 0, "topups": 0, "refunds": 0, "codes": 0, "codes_redeemed": 0}
        for start in month_starts
    }
    for row in rows:
        into = months.get(row["month"])
        if into is not None:
            into[row["source"]] += row["micros"]
            if row["source"] == "codes":
                into["codes_redeemed"] += row["count"]
    return months


WALLET_SOURCES = {
    EntryKind.STRIPE_PAYMENT: "topups",
    EntryKind.REFUND: "refunds",
    EntryKind.CREDIT_CODE: "codes",
    EntryKind.ACTIVATION_GRANT: "codes",
}
REVENUE_TOTALS = (
    "income",
    "subscriptions",
    "topups",
    "refunds",
    "codes",
    "codes_redeemed",
    "usage_cost",
    "requests",
    "margin",
)


def _income_rows(payments: QuerySet[SubscriptionPayment], begin: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Income per month and source: subscription payments, then the wallet's top-ups, refunds and codes."""
    month = TruncMonth("paid_at", tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = [
        {"month": row["month"], "source": "subscriptions", "micros": row["micros"], "count": 0}
        for row in payments.annotate(month=month).values("month").annotate(micros=Sum("amount_micros"))
    ]
    entries = (
        WalletEntry.objects.filter(kind__in=list(WALLET_SOURCES), occurred_at__gte=begin, occurred_at__lt=end)
        .annotate(month=TruncMonth("occurred_at", tzinfo=dt.UTC))
        .values("month", "kind")
        .annotate(micros=Sum("amount_micros"), count=Count("id"))
    )
    return rows + [{**row, "source": WALLET_SOURCES[row["kind"]]} for row in entries]


def _revenue_month(start_at: dt.datetime, figures: dict[str, Any], spent: dict[str, Any]) -> dict[str, Any]:
    income = figures["subscriptions"] + figures["topups"] + figures["refunds"]
    return {
        "label": bucket_label(start_at, RollupPeriod.MONTH),
        **figures,
        "income": income,
        "usage_cost": spent.get("cost_micros", 0),
        "requests": spent.get("requests", 0),
        "margin": income - spent.get("cost_micros", 0),
    }


def _revenue_charts(instance_name: str, table: list[dict[str, Any]]) -> tuple[SafeString, SafeString]:
    labels = [row["label"] for row in table]
    income_chart = stacked_bars(
        labels=labels,
        series=[
            Series("subscriptions", [r["subscriptions"] for r in table]),
            Series("top-ups", [r["topups"] for r in table]),
        ],
        title=f"Income by source, {instance_name}",
        top_label="USD",
    )
    usage_chart = line_chart(
        labels=labels,
        values=[r["usage_cost"] for r in table],
        title=f"Usage cost, {instance_name}",
        top_label=f"${usd_fixed(max([1, *(r['usage_cost'] for r in table)]))}",
    )
    return income_chart, usage_chart


def _instance_revenue(instance_name: str, schema: str, start: dt.date, end: dt.date) -> InstanceRevenue:
    query = ReportQuery(start=start, end=end, bucket=RollupPeriod.MONTH)
    month_starts = bucket_starts(query)
    payments = SubscriptionPayment.objects.filter(paid_at__gte=query.start_at, paid_at__lt=query.end_at)
    months = _monthly(_income_rows(payments, query.start_at, query.end_at), month_starts)
    usage = {row["bucket"]: row for row in report_rows(query)}
    table = [_revenue_month(start_at, months[start_at], usage.get(start_at, {})) for start_at in month_starts]
    by_plan = list(
        payments.values("plan__name").annotate(micros=Sum("amount_micros"), invoices=Count("id")).order_by("-micros")
    )
    totals = {name: sum(row[name] for row in table) for name in REVENUE_TOTALS}
    income_chart, usage_chart = _revenue_charts(instance_name, table)
    return InstanceRevenue(instance_name, schema, table, by_plan, totals, income_chart, usage_chart)


def revenue_page(*, months: int = 12, today: dt.date | None = None) -> list[InstanceRevenue]:
    """Operators' Revenue: per instance and month, income by plan and top-ups, codes redeemed, usage cost."""
    today = today or dt.datetime.now(dt.UTC).date()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    pages = []
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            pages.append(_instance_revenue(instance.name, instance.schema_name, first, today))
    return pages
