import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from apps.channels.models import Channel
from apps.channels.yaml_io import MAX_YAML_BYTES, channel_yaml_export, channel_yaml_import
from apps.core.errors import HyditeError


def _read(path: str) -> str:
    """The file (or standard input), read no further than the import's size limit and one character more."""
    try:
        if path == "-":
            return sys.stdin.read(MAX_YAML_BYTES + 1)
        with open(path, encoding="utf-8") as handle:
            return handle.read(MAX_YAML_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Export or import a channel's routing YAML (operator tool: resolves ${ENV} references; a `router:` block "
        "is taken whatever the instance's plan)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("--schema", default="edge", help="instance schema (default: edge)")
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--channel", default="", help="channel slug (default: the Default Channel)")
        parser.add_argument("--file", default="-", help="YAML file to import (default: standard input)")

    def handle(self, *args: Any, **options: Any) -> None:
        with schema_context(options["schema"]):
            channels = Channel.objects.filter(organization__slug=options["org"])
            channel = (
                channels.filter(slug=options["channel"]).first()
                if options["channel"]
                else channels.filter(is_default=True).first()
            )
            if channel is None:
                raise CommandError("No such channel.")
            if options["action"] == "export":
                self.stdout.write(channel_yaml_export(channel=channel), ending="")
                return
            text = _read(options["file"])
            try:
                # An operator's import: ${ENV} references come from this process's environment.
                models = channel_yaml_import(
                    channel=channel, text=text, actor=None, environ=os.environ, platform_managed=True, gated=False
                )
            except HyditeError as exc:
                raise CommandError(f"{exc.param}: {exc.message}" if exc.param else exc.message) from exc
            self.stdout.write(f"Imported {len(models)} model(s) into {channel.name}.")
