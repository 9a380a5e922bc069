from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.wallet.models import CodeBatch, SubscriptionPayment, Wallet, WalletEntry


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("organization", "balance_micros", "plan_quota_micros", "period_start", "period_usage_micros")
    search_fields = ("organization__name", "organization__slug")


@admin.register(WalletEntry)
class WalletEntryAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "wallet", "kind", "account", "amount_micros", "balance_after_micros", "reference")
    list_filter = ("kind", "account")
    search_fields = ("wallet__organization__name", "reference", "note")


@admin.register(CodeBatch)
class CodeBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "credit_micros", "count", "campaign", "distributor", "expires_at", "disabled_at")
    list_filter = ("kind",)
    search_fields = ("campaign", "distributor", "note")


@admin.register(SubscriptionPayment)
class SubscriptionPaymentAdmin(ReadOnlyAdmin):
    list_display = ("paid_at", "organization", "plan", "amount_micros", "invoice_id")
    search_fields = ("organization__name", "invoice_id")
