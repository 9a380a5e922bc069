"""Credit and activation codes: staff mint them in batches, users redeem each one once."""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.billing.models import Plan
from apps.keys.models import VirtualKey
from apps.keys.services import key_generate
from apps.orgs.models import Organization, Team
from apps.wallet.codes import code_hash, code_new, code_normalise
from apps.wallet.errors import (
    CodeDisabled,
    CodeExpired,
    CodeUnknown,
    CodeUsed,
    CodeWrongPage,
    InvalidBatch,
    RedemptionBusy,
    RedemptionFailed,
    RedemptionLocked,
    RedemptionUnavailable,
)
from apps.wallet.models import Code, CodeBatch, CodeKind, EntryKind, WalletEntry
from apps.wallet.selectors import subscription_for
from apps.wallet.services.ledger import MAX_CREDIT_MICROS, wallet_credit
from apps.wallet.services.redemption_guard import RedemptionGuard
from apps.wallet.services.subscriptions import subscription_grant

MAX_BATCH = 10_000
MAX_TRIAL_DAYS = 90
PAGE_OF = {CodeKind.CREDIT: "Credit Codes", CodeKind.ACTIVATION: "Activation Codes"}
GRANT_KIND = {CodeKind.CREDIT: EntryKind.CREDIT_CODE, CodeKind.ACTIVATION: EntryKind.ACTIVATION_GRANT}


@dataclass(frozen=True)
class MintedBatch:
    batch: CodeBatch
    codes: list[str]  # clear text: shown to the minting staff member once, never stored


def _batch_check(
    *, kind: str, count: int, credit_micros: int, expires_at: dt.datetime | None, trial_plan: str, trial_days: int
) -> None:
    if not 1 <= count <= MAX_BATCH:
        raise InvalidBatch(f"A batch holds 1 to {MAX_BATCH:,} codes.", param="count")
    if kind == CodeKind.CREDIT and credit_micros <= 0:
        raise InvalidBatch("A credit code must top up more than $0.", param="amount")
    if not 0 <= credit_micros <= MAX_CREDIT_MICROS:
        raise InvalidBatch("The amount must be from $0 to $1,000,000,000.", param="amount")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidBatch("The expiry must be in the future.", param="expires_at")
    if trial_plan and (kind != CodeKind.ACTIVATION or not 1 <= trial_days <= MAX_TRIAL_DAYS):
        raise InvalidBatch(
            f"A plan trial comes with activation codes and lasts 1 to {MAX_TRIAL_DAYS} days.", param="trial_days"
        )
    if (
        trial_plan
        and not Plan.objects.filter(slug=trial_plan, is_active=True, contact_sales=False).exclude(slug="free").exists()
    ):
        raise InvalidBatch("That plan cannot be given as a trial.", param="trial_plan")


@transaction.atomic
def code_batch_mint(
    *,
    kind: str,
    count: int,
    credit_micros: int,
    actor: User,
    expires_at: dt.datetime | None = None,
    note: str = "",
    campaign: str = "",
    distributor: str = "",
    trial_plan: str = "",
    trial_days: int = 0,
) -> MintedBatch:
    _batch_check(
        kind=kind,
        count=count,
        credit_micros=credit_micros,
        expires_at=expires_at,
        trial_plan=trial_plan,
        trial_days=trial_days,
    )
    batch = CodeBatch.objects.create(
        kind=kind,
        count=count,
        credit_micros=credit_micros,
        expires_at=expires_at,
        note=note.strip(),
        campaign=campaign.strip(),
        distributor=distributor.strip(),
        trial_plan=trial_plan if trial_plan else "",
        trial_days=trial_days if trial_plan else 0,
        created_by=actor,
    )
    texts = [code_new() for _ in range(count)]
    Code.objects.bulk_create(
        [Code(batch=batch, code_hash=code_hash(code_normalise(text) or ""), hint=text[-4:]) for text in texts],
        batch_size=1000,
    )
    audit_record(
        actor=actor,
        action="code_batch.mint",
        target=batch,
        organization_id=None,
        after={"kind": kind, "count": count, "credit_micros": credit_micros, "campaign": batch.campaign},
    )
    return MintedBatch(batch=batch, codes=texts)


@transaction.atomic
def code_batch_disable(*, batch: CodeBatch, actor: User) -> CodeBatch:
    if batch.disabled_at is None:
        batch.disabled_at = timezone.now()
        batch.save(update_fields=["disabled_at"])
        audit_record(actor=actor, action="code_batch.disable", target=batch, organization_id=None)
    return batch


@transaction.atomic
def code_disable(*, code: Code, actor: User) -> Code:
    if code.disabled_at is None:
        code.disabled_at = timezone.now()
        code.save(update_fields=["disabled_at"])
        audit_record(actor=actor, action="code.disable", target=code, organization_id=None, after={"hint": code.hint})
    return code


@dataclass(frozen=True)
class Redemption:
    code: Code
    entry: WalletEntry | None  # the credit, when the code grants one
    key: VirtualKey | None = None  # activation: the key created
    key_plaintext: str | None = None  # shown once


def code_redeem(*, kind: str, text: str, organization: Organization, user: User, client_ip: str | None) -> Redemption:
    """Redeem a code into `organization`; each code succeeds once, however many try it at the same moment.

    Failures (each with its own message) are audited and counted against the user and the IP; however many
    attempts arrive at once, no more are evaluated than the limits leave (see redemption_guard).
    """
    guard = RedemptionGuard(user=user, client_ip=client_ip)
    hint = (code_normalise(text) or "")[-4:]
    try:
        reservation = guard.reserve()
    except (RedemptionLocked, RedemptionBusy, RedemptionUnavailable) as exc:
        _failure_audit(user, organization, kind=kind, reason=exc.reason, hint=hint)
        raise
    failed = False
    try:
        return code_redemption_apply(kind=kind, text=text, organization=organization, user=user)
    except RedemptionFailed as exc:
        failed = not isinstance(exc, CodeWrongPage)  # a real code on the wrong page is no guess
        _failure_audit(user, organization, kind=kind, reason=exc.reason, hint=hint)
        raise
    finally:
        guard.settle(reservation, failed=failed)


def _failure_audit(user: User, organization: Organization, *, kind: str, reason: str, hint: str) -> None:
    audit_record(
        actor=user,
        action="code.redeem_failed",
        target=organization,
        organization_id=organization.pk,
        after={"kind": kind, "reason": reason, "hint": hint},
    )


def _code_locked(*, kind: str, text: str, now: dt.datetime) -> Code:
    """The code, its row locked, if it may be redeemed on the `kind` page now; else the RedemptionFailed why not."""
    normalised = code_normalise(text)
    if normalised is None:
        raise CodeUnknown()
    # The row lock makes concurrent redemptions of one code wait; each then sees the winner's redeemed_at.
    code = (
        Code.objects.select_for_update(of=("self",))
        .select_related("batch")
        .filter(code_hash=code_hash(normalised))
        .first()
    )
    if code is None:
        raise CodeUnknown()
    batch = code.batch
    if batch.kind != kind:
        raise CodeWrongPage(
            f"This is a {batch.get_kind_display().lower()}: redeem it on the {PAGE_OF[CodeKind(batch.kind)]} page."
        )
    if code.redeemed_at is not None:
        raise CodeUsed()
    if code.disabled_at is not None or batch.disabled_at is not None:
        raise CodeDisabled()
    if batch.expires_at is not None and batch.expires_at <= now:
        raise CodeExpired(f"This code expired on {batch.expires_at:%Y-%m-%d %H:%M} UTC.")
    return code


def _activate(*, batch: CodeBatch, organization: Organization, user: User) -> tuple[VirtualKey, str]:
    """An activation code's key, and its plan trial unless a plan is in force."""
    team = Team.objects.get(organization=organization, is_default=True)
    key, plaintext = key_generate(organization=organization, team=team, user=user, name="Activation key", actor=user)
    if batch.trial_plan:
        current = subscription_for(organization=organization)
        if current is None or not current.in_force:  # a trial never replaces a plan in force
            plan = Plan.objects.get(slug=batch.trial_plan)
            subscription_grant(organization=organization, plan=plan, actor=user, days=batch.trial_days, trial=True)
    return key, plaintext


@transaction.atomic
def code_redemption_apply(*, kind: str, text: str, organization: Organization, user: User) -> Redemption:
    """The redemption itself, in one transaction: the code used, its key and trial, its credit. Callers go
    through code_redeem, which counts the attempt against the user and the IP first."""
    now = timezone.now()
    code = _code_locked(kind=kind, text=text, now=now)
    batch = code.batch
    code.redeemed_at, code.redeemed_by, code.redeemed_organization = now, user, organization
    code.save(update_fields=["redeemed_at", "redeemed_by", "redeemed_organization"])
    # plan (subscription row) before money (wallet row): the lock order of every other service
    key, plaintext = (
        _activate(batch=batch, organization=organization, user=user) if kind == CodeKind.ACTIVATION else (None, None)
    )
    entry = None
    if batch.credit_micros:
        entry = wallet_credit(
            organization=organization,
            amount_micros=batch.credit_micros,
            kind=GRANT_KIND[CodeKind(kind)],
            actor=user,
            reference=f"code:{code.pk}",
            note=f"{PAGE_OF[CodeKind(kind)][:-1]} …{code.hint}" + (f" ({batch.campaign})" if batch.campaign else ""),
        )
    audit_record(
        actor=user,
        action="code.redeem",
        target=code,
        organization_id=organization.pk,
        after={
            "kind": kind,
            "hint": code.hint,
            "batch": batch.pk,
            "credit_micros": batch.credit_micros,
            "distributor": batch.distributor,
            "key_id": key.pk if key else None,
            "trial_plan": batch.trial_plan,
        },
    )
    return Redemption(code=code, entry=entry, key=key, key_plaintext=plaintext)
