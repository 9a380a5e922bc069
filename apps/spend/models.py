from django.db import models


class SpendLog(models.Model):
    """One /v1 request, success or failure: the ledger row. Prompts and completions are never stored."""

    request_id = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(db_index=True)
    organization_id = models.BigIntegerField(db_index=True)
    team_id = models.BigIntegerField(null=True)
    user_id = models.BigIntegerField(null=True)
    key_id = models.BigIntegerField(null=True, db_index=True)
    channel_id = models.BigIntegerField(null=True)
    model_alias = models.CharField(max_length=200)
    model_resolved = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    usage_estimated = models.BooleanField(default=False)
    cost_micros = models.BigIntegerField(default=0)
    priced = models.BooleanField(default=True)
    price_version = models.CharField(max_length=20, blank=True)
    latency_gateway_ms = models.PositiveIntegerField(default=0)
    latency_provider_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    stream = models.BooleanField(default=False)
    cache_hit = models.BooleanField(default=False)
    fallback_used = models.BooleanField(default=False)
    fallback_chain = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization_id", "-created_at"]),
            models.Index(fields=["key_id", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model_alias} {self.status_code}"

    @property
    def succeeded(self) -> bool:
        return self.status_code < 400
