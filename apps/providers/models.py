from django.conf import settings
from django.db import models


class ProviderType(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
    AZURE = "azure", "Azure OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    DEEPSEEK = "deepseek", "DeepSeek"
    QWEN = "qwen", "Qwen (DashScope)"


class ProviderCredential(models.Model):
    """An upstream API key, encrypted at rest. organization null = the platform's own."""

    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="provider_credentials"
    )
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=32, choices=ProviderType.choices)
    secret_encrypted = models.TextField()
    secret_hint = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}, {self.secret_hint})"


class PriceSheetVersion(models.Model):
    """A price sheet from the repository (apps/providers/prices/*.json), loaded as it was published."""

    version = models.CharField(max_length=40, unique=True)
    effective_from = models.DateField()
    digest = models.CharField(max_length=64)  # SHA-256 of the file: a published version never changes
    loaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.version


class PriceSheetEntry(models.Model):
    """One model's list price on a sheet: integer micro-USD per million tokens, per request, per image."""

    sheet = models.ForeignKey(PriceSheetVersion, on_delete=models.CASCADE, related_name="entries")
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=32, blank=True)
    input_micros_per_mtok = models.BigIntegerField()
    cached_input_micros_per_mtok = models.BigIntegerField(null=True, blank=True)
    cache_write_micros_per_mtok = models.BigIntegerField(null=True, blank=True)  # None: as input
    cache_write_1h_micros_per_mtok = models.BigIntegerField(null=True, blank=True)  # None: as a cache write
    output_micros_per_mtok = models.BigIntegerField()
    per_request_micros = models.BigIntegerField(default=0)
    per_image_micros = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sheet", "model"], name="price_sheet_entry_unique")]
        verbose_name_plural = "price sheet entries"

    def __str__(self) -> str:
        return f"{self.sheet.version} {self.model}"


class PriceOverride(models.Model):
    """Staff's own price for a model, on one channel or on every channel, from a moment on.

    A field left empty keeps the sheet's price. A negotiated price sets the token prices; BYOK at a
    routing fee sets them to 0 and the fee per request.
    """

    model = models.CharField(max_length=200)  # the upstream model, as the price sheets name it
    channel = models.ForeignKey(
        "llm_channels.Channel", on_delete=models.CASCADE, null=True, blank=True, related_name="price_overrides"
    )
    effective_from = models.DateTimeField()
    input_micros_per_mtok = models.BigIntegerField(null=True, blank=True)
    cached_input_micros_per_mtok = models.BigIntegerField(null=True, blank=True)
    cache_write_micros_per_mtok = models.BigIntegerField(null=True, blank=True)
    cache_write_1h_micros_per_mtok = models.BigIntegerField(null=True, blank=True)
    output_micros_per_mtok = models.BigIntegerField(null=True, blank=True)
    per_request_micros = models.BigIntegerField(null=True, blank=True)
    per_image_micros = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["model", "-effective_from"])]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d %H:%M}"


# The override's columns under the price sheets' field names (what the channel snapshot carries).
PRICE_OVERRIDE_COLUMNS = {
    "input": "input_micros_per_mtok",
    "cached_input": "cached_input_micros_per_mtok",
    "cache_write": "cache_write_micros_per_mtok",
    "cache_write_1h": "cache_write_1h_micros_per_mtok",
    "output": "output_micros_per_mtok",
    "per_request": "per_request_micros",
    "per_image": "per_image_micros",
}
