from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from apps.billing.models import Plan, StripeEvent
from apps.billing.tasks import plans_changed_publish_task
from apps.core.admin import ReadOnlyAdmin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "monthly_price_micros", "rpm_cap", "tpm_cap", "seats", "bundled_quota_micros")
    list_editable = ("monthly_price_micros", "rpm_cap", "tpm_cap", "seats", "bundled_quota_micros")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # subscriptions keep their plan; retire one with is_active instead

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(plans_changed_publish_task.delay)  # the caps travel in every key snapshot


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_id", "type", "schema_name", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id",)
