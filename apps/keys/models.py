from django.conf import settings
from django.db import models

from apps.quotas.models import QuotaFields


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    REVOKED = "revoked", "Revoked"


class VirtualKey(QuotaFields):
    """A Hydite key (sk-hydite-…). Only its SHA-256 is stored; the clear text is shown once."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="keys")
    team = models.ForeignKey("orgs.Team", on_delete=models.PROTECT, related_name="keys")
    # None: a service-account key of its team, e.g. kept working after its owner left (LeaverKeyAction.KEEP)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who was shown the current secret (minted or regenerated it): when they leave, the key goes with them,
    # whoever owns it. None: keys from before this was recorded whose trail named nobody.
    secret_shown_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey("llm_channels.Channel", on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=20)
    key_suffix = models.CharField(max_length=4)
    status = models.CharField(max_length=16, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    regenerated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        return f"{self.key_prefix}…{self.key_suffix}"


class ManagementKey(models.Model):
    """A key for the management API (sk-hydite-admin-…): one organisation, or the whole instance (staff)."""

    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="management_keys"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=24)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"
