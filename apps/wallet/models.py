"""An organisation's USD balance as an append-only ledger, and the codes that top it up."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.orgs.models import Organization


class Account(models.TextChoices):
    BALANCE = "balance", "Balance"
    PLAN_QUOTA = "plan_quota", "Plan quota"  # the plan's bundled quota of the current period


class EntryKind(models.TextChoices):
    CREDIT_CODE = "credit_code", "Credit code top-up"
    ACTIVATION_GRANT = "activation_grant", "Activation grant"
    STRIPE_PAYMENT = "stripe_payment", "Stripe payment"
    PLAN_QUOTA_GRANT = "plan_quota_grant", "Plan quota grant"
    PLAN_QUOTA_EXPIRY = "plan_quota_expiry", "Plan quota expiry"
    USAGE = "usage", "Metered usage"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Manual adjustment"


class Wallet(models.Model):
    """An organisation's running totals; every change to them is a WalletEntry written in the same transaction.

    `balance_micros` is the sum of the balance account's entries and `plan_quota_micros` the sum of the plan
    quota account's entries of the current period. Usage is metered per period (a calendar month, or the
    plan's billing period); `period_usage_micros` is the usage of this period already debited, from the plan
    quota first, then from the balance.
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="wallet")
    balance_micros = models.BigIntegerField(default=0)
    plan_quota_micros = models.BigIntegerField(default=0)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    period_usage_micros = models.BigIntegerField(default=0)
    limit_changed_at = models.DateTimeField(null=True, blank=True)  # money in, a roll, a plan change
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Wallet of {self.organization}"

    @property
    def gateway_limit_micros(self) -> int:
        """What the org may spend in this period as the gateway counts it (all usage since the period began).

        Debiting usage moves money from quota and balance into period usage, so this sum changes only when
        money comes in or the period rolls: the gateway's copy stays right between those events.
        """
        return self.plan_quota_micros + self.balance_micros + self.period_usage_micros


class WalletEntry(models.Model):
    """One movement of money; never updated or deleted (a database trigger refuses both)."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=24, choices=EntryKind.choices)
    account = models.CharField(max_length=16, choices=Account.choices, default=Account.BALANCE)
    amount_micros = models.BigIntegerField()
    balance_after_micros = models.BigIntegerField()  # the account's total after this entry
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # What the entry came from, unique so that a replayed event credits once (e.g. "stripe:evt_…", "code:12").
    reference = models.CharField(max_length=120, null=True, blank=True, unique=True)
    external_id = models.CharField(max_length=120, blank=True, db_index=True)  # e.g. Stripe's payment intent
    note = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requests = models.PositiveIntegerField(default=0)  # usage entries: how many requests they debit

    class Meta:
        indexes = [models.Index(fields=["wallet", "-id"])]
        verbose_name_plural = "wallet entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_micros} ({self.account})"


class CodeKind(models.TextChoices):
    CREDIT = "credit", "Credit code"
    ACTIVATION = "activation", "Activation code"


class CodeBatch(models.Model):
    """Codes minted together by staff: what each grants, until when, and who distributes them."""

    kind = models.CharField(max_length=16, choices=CodeKind.choices)
    credit_micros = models.BigIntegerField(default=0)
    count = models.PositiveIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    campaign = models.CharField(max_length=80, blank=True, db_index=True)
    distributor = models.CharField(max_length=120, blank=True)  # the partner or referrer credited
    trial_plan = models.CharField(max_length=32, blank=True)  # activation: a plan trial to start
    trial_days = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "code batches"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} batch {self.pk} ({self.campaign or self.note or 'no campaign'})"


class Code(models.Model):
    """One code, stored as the SHA-256 of its normalised text; only its last four characters are kept."""

    batch = models.ForeignKey(CodeBatch, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=4)
    disabled_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    redeemed_organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["batch"], condition=Q(redeemed_at__isnull=False), name="code_redeemed")]

    def __str__(self) -> str:
        return f"…{self.hint}"

    def state(self) -> str:
        """available, redeemed, disabled (the code or its batch) or expired."""
        batch = self.batch
        if self.redeemed_at is not None:
            return "redeemed"
        if self.disabled_at is not None or batch.disabled_at is not None:
            return "disabled"
        if batch.expires_at is not None and batch.expires_at <= timezone.now():
            return "expired"
        return "available"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trial"
    PAST_DUE = "past_due", "Payment failed (retrying)"
    PAUSED = "paused", "Paused"
    CANCELED = "canceled", "Canceled"


# Stripe will not charge these subscriptions again by itself (unpaid: its retries are over)
STRIPE_ENDED = frozenset({"canceled", "incomplete_expired", "unpaid"})

# A plan's caps and quota apply in these states; otherwise the organisation is on Free terms.
SUBSCRIPTION_IN_FORCE = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE})


class Subscription(models.Model):
    """An organisation's plan: paid through Stripe, or granted (test mode, trials) without it."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.CANCELED)
    test_mode = models.BooleanField(default=False)  # granted by staff without Stripe
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    pending_plan = models.ForeignKey(  # a downgrade, from the next period on
        "billing.Plan", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    paused_until = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_subscription_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    stripe_item_id = models.CharField(max_length=100, blank=True)
    stripe_status = models.CharField(max_length=24, blank=True)  # Stripe's own word for it (unpaid, canceled…)
    stripe_event_at = models.DateTimeField(null=True, blank=True)  # the newest Stripe event applied
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization}: {self.plan} ({self.status})"

    @property
    def in_force(self) -> bool:
        return self.status in SUBSCRIPTION_IN_FORCE

    @property
    def stripe_live(self) -> bool:
        """Linked to a Stripe subscription that Stripe has not ended (it may bill again), even under a trial."""
        return bool(self.stripe_subscription_id) and self.stripe_status not in STRIPE_ENDED


class InvoiceStatus(models.TextChoices):
    ISSUED = "issued", "Issued"
    PAID = "paid", "Paid"


class Invoice(models.Model):
    """An invoiced organisation's month, from the spend ledger: issued once per month, lines per model."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="invoices")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    amount_micros = models.BigIntegerField()
    requests = models.PositiveBigIntegerField()
    lines = models.JSONField(default=list)  # [{"model", "requests", "tokens", "cost_micros"}]
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.ISSUED)
    issued_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "period_start"], name="invoice_one_per_month"),
        ]

    def __str__(self) -> str:
        return f"{self.organization} {self.period_start:%Y-%m}"


class SubscriptionPayment(models.Model):
    """Money a paid Stripe subscription invoice brought in (a period, or a plan change's proration): Revenue."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, null=True, related_name="+")
    invoice_id = models.CharField(max_length=120, unique=True)
    amount_micros = models.BigIntegerField()
    paid_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["paid_at"])]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.amount_micros}"
