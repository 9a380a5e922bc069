import datetime as dt
import resource
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from apps.core.dates import DAY_RANGE_MESSAGE, day_in_range
from apps.orgs.models import Organization
from apps.spend.export_queries import ExportSpec, export_row_count, export_spec_refusal
from apps.spend.models import ExportFormat
from apps.spend.reports import REPORT_DIMENSIONS, ReportQuery
from apps.spend.writers import export_write
from apps.tenancy.models import Instance

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Write a spend report (the Billing page's numbers) as CSV, XLSX or NDJSON, with a progress bar on "
        "standard error. Grouped reports read the roll-ups; --every-request exports the ledger's rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schema", default="edge", help="instance schema (default: edge)")
        parser.add_argument("--org", default="", help="organisation slug (default: every organisation)")
        parser.add_argument("--start", required=True, type=dt.date.fromisoformat, help="first UTC day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, type=dt.date.fromisoformat, help="last UTC day, included")
        parser.add_argument("--bucket", default="", choices=["", "hour", "day", "month"])
        parser.add_argument("--group-by", default="", help=f"comma-separated: {', '.join(REPORT_DIMENSIONS)}")
        parser.add_argument("--every-request", action="store_true", help="every ledger row instead of sums")
        parser.add_argument("--format", default="csv", choices=ExportFormat.values)
        parser.add_argument("--output", required=True, help="file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Instance.objects.filter(schema_name=options["schema"]).exists():
            raise CommandError(f"No instance with schema {options['schema']!r}.")
        for name in ("start", "end"):
            if not day_in_range(options[name]):
                raise CommandError(f"--{name}: {DAY_RANGE_MESSAGE}")
        with schema_context(options["schema"]):
            organization_id = None
            if options["org"]:
                organization = Organization.objects.filter(slug=options["org"]).first()
                if organization is None:
                    raise CommandError(f"No organisation {options['org']!r} in {options['schema']}.")
                organization_id = organization.pk
            try:
                query = ReportQuery(
                    start=options["start"],
                    end=options["end"],
                    organization_id=organization_id,
                    bucket="" if options["every_request"] else options["bucket"],
                    group_by=() if options["every_request"] else tuple(filter(None, options["group_by"].split(","))),
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            spec = ExportSpec(query=query, every_request=options["every_request"])
            refusal = export_spec_refusal(spec)
            if refusal:
                raise CommandError(refusal)
            expected = export_row_count(spec)
            started = time.monotonic()
            output = Path(options["output"])
            partial = output.with_name(f".{output.name}.part")  # the output appears only once it is whole
            try:
                with partial.open("wb") as out:
                    written = export_write(
                        spec, options["format"], out, progress=lambda rows: _bar(rows, expected, started)
                    )
                partial.replace(output)
            finally:
                partial.unlink(missing_ok=True)
            _bar(written, expected, started)
            sys.stderr.write("\n")
            peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
            self.stdout.write(
                f"Wrote {written} row(s) to {options['output']} in {time.monotonic() - started:.1f} s"
                f" (peak memory {peak_mib:.0f} MiB)."
            )


def _bar(rows: int, expected: int, started: float) -> None:
    share = min(1.0, rows / expected) if expected else 1.0
    filled = int(BAR_WIDTH * share)
    elapsed = time.monotonic() - started
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:6.1%} {rows}/{expected} rows {elapsed:.0f} s"
    )
    sys.stderr.flush()
