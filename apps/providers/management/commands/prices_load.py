from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import HyditeError
from apps.providers.pricing import price_sheets_load
from apps.tenancy.services import instances_each


class Command(BaseCommand):
    help = "Load the repository's price sheets (apps/providers/prices/*.json) into every instance (rerun-safe)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            added = instances_each(price_sheets_load)
        except HyditeError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Loaded {added} new price sheet version(s).")
