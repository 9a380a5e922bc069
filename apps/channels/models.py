from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.providers.models import ProviderType


class Channel(models.Model):
    """A model bundle: the aliases a key bound to it may call, and where each one goes."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    is_default = models.BooleanField(default=False)
    # The instance's curated model mix: every new organisation's Default Channel starts with its models.
    is_curated = models.BooleanField(default=False, db_default=False)
    # The routing YAML's `router:` block as validated (apps.channels.routing_yaml); {}: the defaults.
    router = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_curated"], condition=Q(is_curated=True), name="channel_one_curated"),
            models.UniqueConstraint(fields=["organization", "slug"], name="channel_slug_unique_in_org"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="channel_one_default_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ChannelModel(models.Model):
    """A model alias callable through a channel (what clients put in "model")."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="models")
    alias = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "alias"], name="channel_model_alias_unique")]

    def __str__(self) -> str:
        return self.alias


class Deployment(models.Model):
    """One upstream that serves an alias; several deployments of one alias share its traffic by weight."""

    channel_model = models.ForeignKey(ChannelModel, on_delete=models.CASCADE, related_name="deployments")
    provider = models.CharField(max_length=32, choices=ProviderType.choices)
    upstream_model = models.CharField(max_length=200)
    api_base = models.URLField(max_length=500)
    api_version = models.CharField(max_length=40, blank=True)
    credential = models.ForeignKey(
        "providers.ProviderCredential", on_delete=models.PROTECT, null=True, blank=True, related_name="deployments"
    )
    weight = models.PositiveIntegerField(default=1)
    tags = models.JSONField(default=list, blank=True)
    # The provider account's caps for this deployment (None: none known).
    rpm_limit = models.PositiveIntegerField(null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(null=True, blank=True)
    # Any of connect_s, first_byte_s, idle_s, total_s (router_config.Timeouts); unset: the process's.
    timeouts = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.provider}:{self.upstream_model}"


class RoutingVersion(models.Model):
    """A channel's whole routing (its exported YAML) after one change: what the history lists and a rollback
    re-applies."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="routing_versions")
    number = models.PositiveIntegerField()  # 1, 2, 3, … per channel
    document = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    summary = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "number"], name="routing_version_number_unique")]

    def __str__(self) -> str:
        return f"v{self.number}"
