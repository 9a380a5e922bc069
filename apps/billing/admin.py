from django.contrib import admin

from apps.billing.models import Plan, StripeEvent
from apps.core.admin import ReadOnlyAdmin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "monthly_price_micros", "rpm_cap", "tpm_cap", "seats", "bundled_quota_micros")
    list_editable = ("monthly_price_micros", "rpm_cap", "tpm_cap", "seats", "bundled_quota_micros")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_id", "type", "schema_name", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id",)
