from django.conf import settings
from django.db import models
from django.db.models import Value


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
    # db_default on the columns added after the first release: a consumer of the previous release, still
    # running while the migration commits, writes rows without them (and they are not dead-lettered).
    provider_request_id = models.CharField(max_length=128, blank=True, default="", db_default="")  # reconciliation
    feature_id = models.CharField(max_length=100, blank=True, default="", db_default="")  # the caller's X-Feature-Id
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0, db_default=0)  # prompt tokens from the provider's cache
    cache_write_tokens = models.PositiveIntegerField(default=0, db_default=0)  # prompt tokens written to its cache
    cache_write_1h_tokens = models.PositiveIntegerField(default=0, db_default=0)  # of those, written for an hour
    usage_estimated = models.BooleanField(default=False)
    cost_micros = models.BigIntegerField(default=0)
    priced = models.BooleanField(default=True)
    price_version = models.CharField(max_length=40, blank=True)
    latency_gateway_ms = models.PositiveIntegerField(default=0)
    latency_provider_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    stream = models.BooleanField(default=False)
    cache_hit = models.BooleanField(default=False)
    saved_micros = models.BigIntegerField(default=0, db_default=0)  # what a cache hit would have cost
    fallback_used = models.BooleanField(default=False)
    fallback_chain = models.JSONField(default=list, blank=True)  # the aliases tried, the one asked for first
    # The router's decisions: its strategy, the deployment that answered (or failed last), which alias of
    # fallback_chain answered, and each attempt (deployment, outcome, status, ms, billed).
    routing_strategy = models.CharField(max_length=16, blank=True, default="", db_default="")
    deployment_id = models.BigIntegerField(null=True, blank=True)
    fallback_position = models.PositiveSmallIntegerField(default=0, db_default=0)
    attempts = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))

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


class RollupPeriod(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


ROLLUP_DIMENSIONS = ("organization_id", "team_id", "user_id", "key_id", "channel_id", "model", "provider", "feature_id")
ROLLUP_MEASURES = (
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_micros",
    "saved_micros",
)


class SpendRollup(models.Model):
    """The ledger summed per bucket (an hour, a UTC day or month) and dimension combination.

    Hour buckets are added to by the spend consumer in the transaction that writes their ledger rows;
    day and month buckets are recomputed from hour and day buckets (apps.spend.services.rollups).
    Kept forever: the ledger's rows are pruned after the retention period, these are not.
    """

    period = models.CharField(max_length=5, choices=RollupPeriod.choices)
    bucket = models.DateTimeField()  # the bucket's start, UTC
    organization_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)
    user_id = models.BigIntegerField(null=True)
    key_id = models.BigIntegerField(null=True)
    channel_id = models.BigIntegerField(null=True)
    model = models.CharField(max_length=200)  # the alias the caller asked for
    provider = models.CharField(max_length=32, blank=True)
    feature_id = models.CharField(max_length=100, blank=True)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    cache_hits = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    saved_micros = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "bucket", *ROLLUP_DIMENSIONS], name="spend_rollup_bucket", nulls_distinct=False
            ),
        ]
        indexes = [
            models.Index(fields=["period", "organization_id", "bucket"], name="spend_rollup_org"),
            models.Index(fields=["period", "bucket"], name="spend_rollup_instance"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.bucket:%Y-%m-%d %H:00} org {self.organization_id} {self.model}"


class RollupStaleDay(models.Model):
    """A UTC day whose hour buckets changed since its day (and month) buckets were last recomputed."""

    day = models.DateField(primary_key=True)

    def __str__(self) -> str:
        return f"{self.day}"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"
    NDJSON = "ndjson", "NDJSON"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"  # its file was deleted after SPEND_EXPORT_KEEP_DAYS


class SpendExport(models.Model):
    """A spend report written to a file by a Celery job (large exports); its rows stream, memory stays flat."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    spec = models.JSONField()  # the ReportSpec: range, bucket, grouping, filters, or every request
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    rows_expected = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    attempt = models.CharField(max_length=32, blank=True)  # the run that holds the job (a redelivery takes it over)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"export {self.pk} {self.format} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return min(99, 100 * self.rows_written // self.rows_expected) if self.rows_expected else 0
