from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProvidersConfig(AppConfig):
    name = "apps.providers"

    def ready(self) -> None:
        post_migrate.connect(_price_sheets_load, sender=self)


def _price_sheets_load(**kwargs: Any) -> None:
    """After each instance schema's migrations: the repository's new price sheets (reference data, like
    Django's own content types). New sheets in a deploy arrive with its `migrate_schemas`."""
    from django_tenants.utils import get_public_schema_name

    from apps.core.schemas import current_schema
    from apps.providers.pricing import price_sheets_load

    if current_schema() != get_public_schema_name():  # the sheets' tables live in the instances' schemas
        price_sheets_load()
