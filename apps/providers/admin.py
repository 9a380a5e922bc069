from django.contrib import admin

from apps.providers.models import ProviderCredential


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    list_display = ("name", "provider", "organization", "secret_hint", "created_at")
    list_filter = ("provider",)
    # The encrypted secret is never shown, not even encrypted.
    exclude = ("secret_encrypted",)
    readonly_fields = ("secret_hint",)
