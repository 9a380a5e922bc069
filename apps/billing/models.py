"""Plans (data, editable in the admin) and the Stripe events received (public schema: one per deployment)."""

from django.db import models


class Plan(models.Model):
    """A subscription tier: price, caps, seats and the quota bundled each month (None: no cap / unlimited)."""

    FREE = "free"  # what applies without a plan in force

    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=60)
    monthly_price_micros = models.BigIntegerField(default=0)
    rpm_cap = models.PositiveIntegerField(null=True, blank=True)
    tpm_cap = models.PositiveBigIntegerField(null=True, blank=True)
    seats = models.PositiveIntegerField(null=True, blank=True)
    bundled_quota_micros = models.BigIntegerField(default=0)
    contact_sales = models.BooleanField(default=False)
    stripe_price_id = models.CharField(max_length=100, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort_order", "slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def subscribable(self) -> bool:
        """Offered to subscribe to (or trial): not Free, not sales-only, not retired."""
        return self.slug != self.FREE and not self.contact_sales and self.is_active


def plans_subscribable() -> models.QuerySet[Plan]:
    return Plan.objects.filter(is_active=True, contact_sales=False).exclude(slug=Plan.FREE)


class StripeEvent(models.Model):
    """A webhook event handled once: its id is unique, so a redelivery finds it and changes nothing."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    created = models.DateTimeField()  # Stripe's time for the event (deliveries may arrive out of order)
    received_at = models.DateTimeField(auto_now_add=True)
    schema_name = models.CharField(max_length=63, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class StripeCustomerRoute(models.Model):
    """Which instance and organisation a Stripe customer is: how an invoice event finds its subscription."""

    customer_id = models.CharField(max_length=100, primary_key=True)
    schema_name = models.CharField(max_length=63)
    organization_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.schema_name}:{self.organization_id}"
