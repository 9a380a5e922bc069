"""Budget alerts, and the webhook endpoints and delivery attempts that carry them out."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class AlertScope(models.TextChoices):
    KEY = "key", "Key"
    TEAM = "team", "Team"
    ORG = "org", "Organisation"


class AlertKind(models.TextChoices):
    SOFT_BUDGET = "soft_budget", "Soft budget reached"
    HARD_80 = "hard_80", "80 % of the budget used"


# The webhook event type of each alert kind.
EVENT_TYPES = {AlertKind.SOFT_BUDGET: "budget.soft_exceeded", AlertKind.HARD_80: "budget.threshold_80"}


class BudgetAlert(models.Model):
    """A budget threshold a key, team or organisation crossed: at most one per period and threshold.

    The unique constraint, not a read before the insert, is what makes it once: two consumers
    that see the same crossing race to insert and one of them loses.
    """

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=8, choices=AlertScope.choices)
    scope_id = models.BigIntegerField()
    # The team of a key or team alert (its lead may acknowledge it); names are snapshots.
    team = models.ForeignKey("orgs.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    name = models.CharField(max_length=200)
    budget_duration = models.CharField(max_length=16)
    period_id = models.CharField(max_length=16)  # apps.quotas.limits.budget_period
    period_start = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    budget_micros = models.BigIntegerField()  # the soft budget, or the hard budget of an 80 % alert
    threshold_micros = models.BigIntegerField()
    spent_micros = models.BigIntegerField()  # the ledger's spend in the period when it fired
    event_id = models.CharField(max_length=40, unique=True)  # the webhook event's id, the same on every attempt
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    webhooks_queued_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "budget_duration", "period_id", "kind"],
                name="budget_alert_once_per_period",
            ),
        ]
        indexes = [
            # The banner's query: an organisation's open alerts of the current periods.
            models.Index(
                fields=["organization", "period_id"],
                condition=Q(acknowledged_at__isnull=True),
                name="budget_alert_open",
            ),
            models.Index(fields=["created_at"], name="budget_alert_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.name}: {self.get_kind_display()} ({self.period_id})"

    @property
    def event_type(self) -> str:
        return EVENT_TYPES[AlertKind(self.kind)]


class WebhookEndpoint(models.Model):
    """Where an organisation wants its events POSTed. The signing secret is stored encrypted only."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=500)
    events = models.JSONField(default=list)
    secret_encrypted = models.TextField()
    secret_hint = models.CharField(max_length=16)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url[:200]


class WebhookDelivery(models.Model):
    """One POST attempt: what came back, never more of the body than a short excerpt."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(BudgetAlert, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=200, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "alert"]),
            models.Index(fields=["endpoint", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → endpoint {self.endpoint_id} #{self.attempt}: {self.status_code or self.error}"
