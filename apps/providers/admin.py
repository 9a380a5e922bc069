from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.providers.models import PriceOverride, PriceSheetEntry, PriceSheetVersion, ProviderCredential


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    list_display = ("name", "provider", "organization", "secret_hint", "created_at")
    list_filter = ("provider",)
    # The encrypted secret is never shown, not even encrypted.
    exclude = ("secret_encrypted",)
    readonly_fields = ("secret_hint",)


@admin.register(PriceSheetVersion)
class PriceSheetVersionAdmin(ReadOnlyAdmin):
    list_display = ("version", "effective_from", "digest", "loaded_at")


@admin.register(PriceSheetEntry)
class PriceSheetEntryAdmin(ReadOnlyAdmin):
    list_display = ("sheet", "model", "provider", "input_micros_per_mtok", "output_micros_per_mtok")
    list_filter = ("sheet", "provider")
    search_fields = ("model",)


@admin.register(PriceOverride)
class PriceOverrideAdmin(ReadOnlyAdmin):
    """Overrides are added on the Prices page (which republishes the channels' snapshots)."""

    list_display = ("model", "channel", "effective_from", "input_micros_per_mtok", "output_micros_per_mtok")
    search_fields = ("model", "note")
