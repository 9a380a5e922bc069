"""Budget alerts: which holders of a committed spend batch crossed a threshold, once per period.

Called by the spend consumer after each batch commits. Per batch: one query per layer for the
touched holders that have a budget, one Redis pipeline (services/watch.py), and, only for holders
whose estimate may have crossed a threshold, one query for their alerts of the period and one
ledger sum per layer.
"""

import datetime as dt
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

import psycopg.errors
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.redis import redis_client, tenant_key
from apps.core.schemas import current_schema
from apps.keys.models import VirtualKey
from apps.notifications.models import AlertKind, AlertScope, BudgetAlert
from apps.notifications.services.watch import (
    NO_THRESHOLD_LEFT,
    Watched,
    budget_watch_add,
    budget_watch_settle,
    watch_ttl,
)
from apps.notifications.tasks import budget_alert_email_task, budget_alert_webhooks_task
from apps.orgs.models import Organization, Team
from apps.quotas.counters import budget_counters_floor
from apps.quotas.limits import budget_period, spent_key
from apps.spend.selectors import spend_micros_since_by_holder

HARD_WARNING_PERCENT = 80
ONCE_PER_PERIOD = "budget_alert_once_per_period"


@dataclass
class TouchedHolders:
    """The cost (micro-USD) a committed batch added to each key, team and organisation."""

    spend: dict[str, dict[int, int]] = field(default_factory=lambda: {scope: defaultdict(int) for scope in AlertScope})

    def add(self, *, key_id: int | None, team_id: int | None, organization_id: int, cost_micros: int) -> None:
        for scope, holder_id in (
            (AlertScope.KEY, key_id),
            (AlertScope.TEAM, team_id),
            (AlertScope.ORG, organization_id),
        ):
            if holder_id is not None:
                self.spend[scope][holder_id] += cost_micros


@dataclass(frozen=True)
class BudgetHolder:
    scope: str
    id: int
    organization_id: int
    team_id: int | None
    name: str
    soft_budget_micros: int | None
    max_budget_micros: int | None
    budget_duration: str

    def thresholds(self) -> dict[str, tuple[int, int]]:
        """Alert kind → (threshold, budget) of the budgets set (a zero budget alerts nothing)."""
        found = {}
        if self.soft_budget_micros:
            found[AlertKind.SOFT_BUDGET.value] = (self.soft_budget_micros, self.soft_budget_micros)
        if self.max_budget_micros:
            warning = self.max_budget_micros * HARD_WARNING_PERCENT // 100
            found[AlertKind.HARD_80.value] = (warning, self.max_budget_micros)
        return found


HAS_BUDGET = Q(soft_budget_micros__gt=0) | Q(max_budget_micros__gt=0)
LIMITS = ("soft_budget_micros", "max_budget_micros", "budget_duration")
KEY_FIELDS = ("pk", "organization_id", "team_id", "name")
TEAM_FIELDS = ("pk", "organization_id", "pk", "name")


def _holders_with_budgets(touched: TouchedHolders) -> list[BudgetHolder]:
    holders = []
    if ids := list(touched.spend[AlertScope.KEY]):
        keys = VirtualKey.objects.filter(HAS_BUDGET, pk__in=ids)
        holders += [BudgetHolder(AlertScope.KEY, *row) for row in keys.values_list(*KEY_FIELDS, *LIMITS)]
    if ids := list(touched.spend[AlertScope.TEAM]):
        teams = Team.objects.filter(HAS_BUDGET, pk__in=ids)
        holders += [BudgetHolder(AlertScope.TEAM, *row) for row in teams.values_list(*TEAM_FIELDS, *LIMITS)]
    if ids := list(touched.spend[AlertScope.ORG]):
        orgs = Organization.objects.filter(HAS_BUDGET, pk__in=ids).values_list("pk", "name", *LIMITS)
        holders += [BudgetHolder(AlertScope.ORG, pk, pk, None, *rest) for pk, *rest in orgs]
    return holders


def _watch_key(schema: str, holder: BudgetHolder, period_id: str) -> str:
    # The limits are part of the name: a budget changed mid-period starts a new, unverified estimate.
    limits = f"{holder.soft_budget_micros or 0}:{holder.max_budget_micros or 0}"
    return tenant_key(schema, "budget_watch", holder.scope, holder.id, holder.budget_duration, period_id, limits)


Period = tuple[str, dt.datetime, int]  # budget_period's id, start, TTL


def budget_alerts_check(*, schema: str, touched: TouchedHolders, now: dt.datetime | None = None) -> list[BudgetAlert]:
    """Create the alerts the batch made due (spend ≥ soft budget, spend ≥ 80 % of the hard budget)."""
    now = now or timezone.now()
    with schema_context(schema):
        holders = _holders_with_budgets(touched)
        if not holders:
            return []
        periods = {holder: budget_period(holder.budget_duration, now) for holder in holders}
        additions = [
            (
                _watch_key(schema, holder, periods[holder][0]),
                touched.spend[holder.scope][holder.id],
                watch_ttl(periods[holder][2]),
            )
            for holder in holders
        ]
        watched = budget_watch_add(client=redis_client(), additions=additions)
        due = [(holder, state) for holder, state in zip(holders, watched, strict=True) if state.needs_check]
        return _check_against_ledger(schema, due, periods) if due else []


def _check_against_ledger(
    schema: str, due: list[tuple[BudgetHolder, Watched]], periods: dict[BudgetHolder, Period]
) -> list[BudgetAlert]:
    fired = _fired_kinds([holder for holder, _ in due], periods)
    spent = _period_spend(schema, [holder for holder, _ in due], periods)
    created, checked = [], []
    for holder, state in due:
        done = fired[(holder.scope, holder.id)]
        holder_spent = spent[(holder.scope, holder.id)]
        for kind, (threshold, budget) in holder.thresholds().items():
            if kind in done or holder_spent < threshold:
                continue
            done.add(kind)
            alert = budget_alert_create(
                holder=holder, kind=kind, period=periods[holder], threshold=threshold, budget=budget, spent=holder_spent
            )
            if alert is not None:
                created.append(alert)
        pending = [threshold for kind, (threshold, _) in holder.thresholds().items() if kind not in done]
        checked.append((state, holder_spent, min(pending, default=NO_THRESHOLD_LEFT), watch_ttl(periods[holder][2])))
    budget_watch_settle(client=redis_client(), checked=checked)
    # the ledger was just summed: a gateway counter below it is healed now, not at the next beat
    floors = {
        spent_key(schema, holder.scope, holder.id, periods[holder][0]): spent[(holder.scope, holder.id)]
        for holder, _ in due
        if holder.max_budget_micros is not None
    }
    budget_counters_floor(floors=floors)
    return created


def _fired_kinds(holders: list[BudgetHolder], periods: dict[BudgetHolder, Period]) -> dict[tuple[str, int], set[str]]:
    """The kinds already alerted this period, per holder (one query)."""
    condition = Q()
    for holder in holders:
        condition |= Q(
            scope=holder.scope, scope_id=holder.id, budget_duration=holder.budget_duration, period_id=periods[holder][0]
        )
    fired: dict[tuple[str, int], set[str]] = defaultdict(set)
    for scope, scope_id, kind in BudgetAlert.objects.filter(condition).values_list("scope", "scope_id", "kind"):
        fired[(scope, scope_id)].add(kind)
    return fired


def _period_spend(
    schema: str, holders: list[BudgetHolder], periods: dict[BudgetHolder, Period]
) -> dict[tuple[str, int], int]:
    """The ledger's spend of each holder since its period began (one query per layer)."""
    spent = {}
    for scope in AlertScope:
        of_scope = [holder for holder in holders if holder.scope == scope]
        totals = spend_micros_since_by_holder(
            schema=schema,
            scope=scope,
            since_by_id={holder.id: periods[holder][1] for holder in of_scope},
            organization_ids={holder.organization_id for holder in of_scope} if scope == AlertScope.TEAM else (),
        )
        spent.update({(scope.value, holder_id): micros for holder_id, micros in totals.items()})
    return spent


def budget_alert_create(
    *, holder: BudgetHolder, kind: str, period: Period, threshold: int, budget: int, spent: int
) -> BudgetAlert | None:
    """Insert the alert, or None when this period already has it (the unique constraint decides)."""
    period_id, period_start, _ = period
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                organization_id=holder.organization_id,
                scope=holder.scope,
                scope_id=holder.id,
                team_id=holder.team_id,
                name=holder.name[:200],
                budget_duration=holder.budget_duration,
                period_id=period_id,
                period_start=period_start,
                kind=kind,
                budget_micros=budget,
                threshold_micros=threshold,
                spent_micros=spent,
                event_id="evt_" + secrets.token_hex(12),
            )
    except IntegrityError as exc:
        if not _violates(exc, ONCE_PER_PERIOD):
            raise
        return None
    schema = current_schema()
    # robust: the alert is committed; a broker that refuses the task now leaves it to the sweeper.
    transaction.on_commit(partial(budget_alert_email_task.delay, schema=schema, alert_id=alert.pk), robust=True)
    transaction.on_commit(partial(budget_alert_webhooks_task.delay, schema=schema, alert_id=alert.pk), robust=True)
    return alert


def _violates(exc: IntegrityError, constraint: str) -> bool:
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.UniqueViolation) and cause.diag.constraint_name == constraint


@transaction.atomic
def budget_alert_acknowledge(*, alert: BudgetAlert, actor: User) -> BudgetAlert:
    """Hide the alert's banner; acknowledging twice changes nothing."""
    if alert.acknowledged_at is not None:
        return alert
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    audit_record(
        actor=actor,
        action="budget_alert.acknowledge",
        target=alert,
        organization_id=alert.organization_id,
        after={"scope": alert.scope, "name": alert.name, "kind": alert.kind, "period": alert.period_id},
    )
    return alert
