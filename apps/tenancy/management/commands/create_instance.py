from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import HyditeError
from apps.tenancy.models import InstanceKind, InstanceTier
from apps.tenancy.services import instance_create


class Command(BaseCommand):
    help = "Create a Hydite instance: a migrated PostgreSQL schema with its domains."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--schema", required=True, help="schema name, e.g. acme")
        parser.add_argument("--kind", choices=InstanceKind.values, default=InstanceKind.DEDICATED)
        parser.add_argument("--tier", choices=InstanceTier.values, default=InstanceTier.PRO)
        parser.add_argument("--domain", action="append", required=True, help="repeat for several domains")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            instance = instance_create(
                name=options["name"],
                schema_name=options["schema"],
                kind=options["kind"],
                tier=options["tier"],
                domains=options["domain"],
            )
        except HyditeError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created instance {instance.schema_name} on {', '.join(options['domain'])}")
