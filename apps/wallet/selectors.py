"""Reading wallets and codes (services write)."""

from typing import Any, TypedDict

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from apps.billing.models import Plan
from apps.orgs.models import BillingMode, Organization
from apps.tenancy.models import Instance, InstanceKind
from apps.wallet.models import SUBSCRIPTION_IN_FORCE, Code, CodeBatch, Invoice, Subscription, Wallet, WalletEntry
from apps.wallet.periods import month_bounds


class WalletLimit(TypedDict):
    """A prepaid organisation's stop, as the gateway enforces it."""

    limit: int  # micro-USD the period may use in all
    start: str  # ISO start of the period: usage is counted from here
    end_ms: int
    period: str  # the period's id in counter names


def wallet_gateway_snapshot(*, organization: Organization) -> WalletLimit | None:
    """What the gateway enforces for a prepaid organisation (None: invoiced, no wallet stop).

    The gateway counts all usage since `start` against `limit` (micro-USD); see Wallet.gateway_limit_micros.
    """
    if organization.billing_mode != BillingMode.PREPAID:
        return None
    wallet = Wallet.objects.filter(organization=organization).first()
    if wallet is None:
        start, end = month_bounds(timezone.now())
        limit = 0
    else:
        start, end, limit = wallet.period_start, wallet.period_end, wallet.gateway_limit_micros
    return WalletLimit(
        limit=limit,
        start=start.isoformat(),
        end_ms=int(end.timestamp() * 1000),
        period=start.strftime("%Y%m%d%H%M%S"),
    )


def wallet_for(*, organization: Organization) -> Wallet | None:
    return Wallet.objects.filter(organization=organization).first()


def wallet_entries(*, organization: Organization, limit: int = 50) -> list[WalletEntry]:
    return list(
        WalletEntry.objects.filter(wallet__organization=organization).select_related("actor").order_by("-id")[:limit]
    )


def wallet_ledger_sums(*, organization: Organization) -> dict[str, int]:
    """Each account's total as the sum of its entries (what the wallet's running totals must equal)."""
    rows = (
        WalletEntry.objects.filter(wallet__organization=organization)
        .values("account")
        .annotate(total=Sum("amount_micros"))
    )
    return {row["account"]: row["total"] for row in rows}


def code_batches(*, kind: str, campaign: str = "", state: str = "") -> QuerySet[CodeBatch]:
    """Batches of one kind, newest first, with how many of their codes were redeemed."""
    batches = CodeBatch.objects.filter(kind=kind).select_related("created_by")
    if campaign:
        batches = batches.filter(campaign__icontains=campaign)
    if state == "active":
        batches = batches.filter(disabled_at__isnull=True)
    elif state == "disabled":
        batches = batches.filter(disabled_at__isnull=False)
    return batches.annotate(redeemed=Count("codes", filter=Q(codes__redeemed_at__isnull=False))).order_by("-id")


def code_batch_codes(*, batch: CodeBatch) -> QuerySet[Code]:
    return batch.codes.select_related("batch", "redeemed_by", "redeemed_organization").order_by("id")


def activation_attribution() -> list[dict[str, Any]]:
    """Per distributor: activation codes minted, redeemed, and credit granted by the redeemed ones."""
    rows = (
        Code.objects.filter(batch__kind="activation")
        .values("batch__distributor")
        .annotate(
            minted=Count("id"),
            redeemed=Count("id", filter=Q(redeemed_at__isnull=False)),
            credit_micros=Sum("batch__credit_micros", filter=Q(redeemed_at__isnull=False)),
        )
        .order_by("-redeemed", "batch__distributor")
    )
    return [
        {
            "distributor": row["batch__distributor"] or "(none)",
            "minted": row["minted"],
            "redeemed": row["redeemed"],
            "credit_micros": row["credit_micros"] or 0,
        }
        for row in rows
    ]


def subscription_for(*, organization: Organization) -> Subscription | None:
    return Subscription.objects.select_related("plan", "pending_plan").filter(organization=organization).first()


def plan_in_force(*, organization: Organization) -> Plan:
    """The plan whose caps and quota apply now: the subscription's while it is in force, else Free."""
    subscription = subscription_for(organization=organization)
    if subscription is not None and subscription.in_force:
        return subscription.plan
    return Plan.objects.get(slug=Plan.FREE)


def plan_caps_snapshot(*, organization: Organization, instance: Instance | None) -> list[int | None] | None:
    """[rpm, tpm] of the plan layer (None: no plan layer). On the Shared Edge each organisation's plan caps
    it; a Dedicated instance is capped as a whole by its provisioned tier, raised by the dearest plan in force
    among its organisations (a plan never lowers what the instance was provisioned with)."""
    if instance is None or instance.kind == InstanceKind.SHARED:
        plan = plan_in_force(organization=organization)
        return None if plan.rpm_cap is None and plan.tpm_cap is None else [plan.rpm_cap, plan.tpm_cap]
    tier = Plan.objects.filter(slug=instance.tier).first()
    paid = (
        Subscription.objects.filter(status__in=SUBSCRIPTION_IN_FORCE)
        .select_related("plan")
        .order_by("-plan__monthly_price_micros")
        .first()
    )
    plans = [plan for plan in (tier, paid.plan if paid else None) if plan is not None]
    if not plans:
        return None
    caps = [_loosest([plan.rpm_cap for plan in plans]), _loosest([plan.tpm_cap for plan in plans])]
    return None if caps == [None, None] else caps


def _loosest(caps: list[int | None]) -> int | None:
    """The highest cap; None (no cap) beats any number."""
    return None if any(cap is None for cap in caps) else max(caps)  # type: ignore[type-var]


def organization_seats_used(*, organization: Organization) -> int:
    """Members of the organisation (each user once): what a plan's seats count."""
    return organization.memberships.filter(team__isnull=True).count()


def invoices_for(*, organization: Organization) -> list[Invoice]:
    return list(Invoice.objects.filter(organization=organization).order_by("-period_start")[:24])
