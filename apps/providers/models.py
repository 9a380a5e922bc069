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
