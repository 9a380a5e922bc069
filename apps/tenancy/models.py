from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class InstanceKind(models.TextChoices):
    SHARED = "shared", "Shared Edge"
    DEDICATED = "dedicated", "Dedicated"


class InstanceTier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    TEAM = "team", "Team"
    BUSINESS = "business", "Business"
    ENTERPRISE = "enterprise", "Enterprise"


class InstanceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PROVISIONING = "provisioning", "Provisioning"
    PAUSED = "paused", "Paused"


class Instance(TenantMixin):
    """A Hydite instance: one PostgreSQL schema (the Shared Edge, or a Dedicated one)."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=InstanceKind.choices)
    tier = models.CharField(max_length=16, choices=InstanceTier.choices, default=InstanceTier.FREE)
    status = models.CharField(max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"


class Domain(DomainMixin):
    def __str__(self) -> str:
        return self.domain


class KeyRoute(models.Model):
    """Which instance a virtual key lives in, by the key's SHA-256: the gateway's first lookup."""

    key_hash = models.CharField(max_length=64, primary_key=True)
    schema_name = models.CharField(max_length=63)

    def __str__(self) -> str:
        return f"{self.key_hash[:12]}… → {self.schema_name}"
