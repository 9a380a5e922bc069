"""The quota fields a key, a team and an organisation share (LiteLLM's names where they exist)."""

from django.db import models
from django.db.models import JSONField, Value


class BudgetDuration(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    TOTAL = "total", "Total (never resets)"


class QuotaFields(models.Model):
    """Limits of one layer; null or empty means "no limit at this layer"."""

    max_budget_micros = models.BigIntegerField(null=True, blank=True)
    soft_budget_micros = models.BigIntegerField(null=True, blank=True)
    # db_default too: rows written by raw SQL or by code older than this migration still get a valid row.
    budget_duration = models.CharField(
        max_length=16,
        choices=BudgetDuration.choices,
        default=BudgetDuration.MONTHLY,
        db_default=BudgetDuration.MONTHLY,
    )
    rpm_limit = models.PositiveIntegerField(null=True, blank=True)
    tpm_limit = models.PositiveBigIntegerField(null=True, blank=True)
    allowed_models = models.JSONField(default=list, db_default=Value([], JSONField()), blank=True)
    blocked_models = models.JSONField(default=list, db_default=Value([], JSONField()), blank=True)
    allowed_ips = models.JSONField(default=list, db_default=Value([], JSONField()), blank=True)

    class Meta:
        abstract = True


QUOTA_FIELD_NAMES = frozenset(field.name for field in QuotaFields._meta.local_fields)


class GatewayDefaultsSetting(models.Model):
    """The Shared Edge gateway layer's limits as the operators saved them: one row per instance.

    Without a row the environment's GATEWAY_DEFAULT_RPM / _TPM apply; a null field is "off".
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    key_rpm = models.PositiveIntegerField(null=True, blank=True)
    key_tpm = models.PositiveBigIntegerField(null=True, blank=True)
    ip_rpm = models.PositiveIntegerField(null=True, blank=True)
    ip_tpm = models.PositiveBigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="gateway_defaults_singleton")]

    def __str__(self) -> str:
        return "Gateway defaults"
