"""python manage.py routing_drill --channel SLUG --alias NAME [--organization SLUG] [--requests 20]"""

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from apps.channels.drill import DrillRefused, drill
from apps.channels.models import Channel


class Command(BaseCommand):
    help = (
        "Block an alias's primary deployment through the mock provider's failure injection, send requests "
        "through the gateway, print where they went, the attempts and the added latency, then restore it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel", required=True, help="the channel's slug")
        parser.add_argument("--alias", required=True)
        parser.add_argument("--organization", help="the organisation's slug, when several have the channel slug")
        parser.add_argument("--schema", default="edge", help="the instance's schema (default: the Shared Edge)")
        parser.add_argument("--gateway", default="http://127.0.0.1:8000", help="the gateway's base URL")
        parser.add_argument("--requests", type=int, default=20)

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the drill prints its own table
        if not 1 <= options["requests"] <= 1000:
            raise CommandError("--requests takes 1 to 1000.")
        with schema_context(options["schema"]):
            channels = Channel.objects.filter(slug=options["channel"]).select_related("organization")
            if options["organization"]:
                channels = channels.filter(organization__slug=options["organization"])
            found = list(channels[:2])
            if len(found) != 1:
                problem = "no channel" if not found else "several channels (name one with --organization)"
                raise CommandError(f"There is {problem} with the slug {options['channel']!r}.")
            try:
                drill(
                    channel=found[0],
                    alias=options["alias"],
                    gateway=options["gateway"],
                    requests=options["requests"],
                    say=self.stdout.write,
                )
            except DrillRefused as exc:
                raise CommandError(str(exc)) from exc
