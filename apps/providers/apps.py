from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db.models.signals import post_migrate


class ProvidersConfig(AppConfig):
    name = "apps.providers"

    def ready(self) -> None:
        post_migrate.connect(_price_sheets_load, sender=self)
        checks.register(_allowlists_check, checks.Tags.security)


def _allowlists_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """An allow-list entry that cannot be read opens nothing: say so before the operator wonders why."""
    from apps.providers.url_safety import allowlist_problems

    return [
        checks.Error(f"{setting}: {problem}", id="providers.E001")
        for setting in ("GATEWAY_UPSTREAM_ALLOWLIST", "WEBHOOK_ALLOWLIST")
        for problem in allowlist_problems(getattr(settings, setting))
    ]


def _price_sheets_load(**kwargs: Any) -> None:
    """After each instance schema's migrations: the repository's new price sheets (reference data, like
    Django's own content types). New sheets in a deploy arrive with its `migrate_schemas`."""
    from django_tenants.utils import get_public_schema_name

    from apps.core.schemas import current_schema
    from apps.providers.pricing import price_sheets_load

    if current_schema() != get_public_schema_name():  # the sheets' tables live in the instances' schemas
        price_sheets_load()
