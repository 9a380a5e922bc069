"""Price sheets into the database, and staff price overrides (published with the channel snapshots)."""

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.channels.models import Channel
from apps.channels.snapshots import channel_snapshot_publish
from apps.core.errors import HyditeError
from apps.core.schemas import current_schema
from apps.providers.models import PRICE_OVERRIDE_COLUMNS, PriceOverride, PriceSheetEntry, PriceSheetVersion
from apps.providers.prices import PriceSheet, price_sheets

MAX_PRICE_MICROS = 10**12  # $1,000,000 per million tokens, request or image: beyond any real price


class PriceSheetChanged(HyditeError):
    code = "price_sheet_changed"


class InvalidPriceOverride(HyditeError):
    code = "invalid_price_override"


def price_sheets_load(sheets: Iterable[PriceSheet] | None = None) -> int:
    """Load the repository's sheets not yet in this schema (rerun-safe); returns how many were added.

    A published version is never rewritten: a file whose content differs from the loaded version is refused
    (publish a new version instead), so the ledger's price versions keep their meaning.
    """
    sheets = list(sheets if sheets is not None else price_sheets())
    loaded = dict(PriceSheetVersion.objects.values_list("version", "digest"))
    for sheet in sheets:  # every version checked before any is loaded
        if sheet.version in loaded and loaded[sheet.version] != sheet.digest:
            raise PriceSheetChanged(f"Price sheet {sheet.version} changed after it was loaded; publish a new version.")
    added = 0
    for sheet in sheets:
        if sheet.version in loaded:
            continue
        with transaction.atomic():
            record = PriceSheetVersion.objects.create(
                version=sheet.version, effective_from=sheet.effective_from, digest=sheet.digest
            )
            PriceSheetEntry.objects.bulk_create(
                PriceSheetEntry(
                    sheet=record,
                    model=model,
                    provider=price.provider,
                    input_micros_per_mtok=price.input_micros_per_mtok,
                    cached_input_micros_per_mtok=price.cached_input_micros_per_mtok,
                    cache_write_micros_per_mtok=price.cache_write_micros_per_mtok,
                    cache_write_1h_micros_per_mtok=price.cache_write_1h_micros_per_mtok,
                    output_micros_per_mtok=price.output_micros_per_mtok,
                    per_request_micros=price.per_request_micros,
                    per_image_micros=price.per_image_micros,
                )
                for model, price in sheet.models.items()
            )
        added += 1
    return added


@transaction.atomic
def price_override_create(
    *,
    model: str,
    channel: Channel | None,
    effective_from: dt.datetime,
    prices: dict[str, int | None],
    note: str,
    actor: User,
) -> PriceOverride:
    """A staff price for `model` (on `channel`, or every channel) from `effective_from` on; the gateway
    applies it from then (the channels' snapshots are published again when this commits)."""
    model = model.strip()
    if not model:
        raise InvalidPriceOverride("Name the model (as the price sheets name it).", param="model")
    if all(prices.get(name) is None for name in PRICE_OVERRIDE_COLUMNS):
        raise InvalidPriceOverride("Set at least one price.", param="input")
    for name, value in prices.items():
        if name not in PRICE_OVERRIDE_COLUMNS:
            raise ValueError(f"unknown price field {name}")
        if value is not None and not 0 <= value <= MAX_PRICE_MICROS:
            raise InvalidPriceOverride("A price is from $0 to $1,000,000.", param=name)
    override = PriceOverride.objects.create(
        model=model,
        channel=channel,
        effective_from=effective_from,
        note=note.strip(),
        created_by=actor,
        **{PRICE_OVERRIDE_COLUMNS[name]: value for name, value in prices.items()},
    )
    audit_record(
        actor=actor,
        action="price_override.create",
        target=override,
        organization_id=channel.organization_id if channel else None,
        after={"model": model, "channel": channel.pk if channel else None, **prices},
    )
    _channels_publish_on_commit(model=model, channel=channel)
    return override


def _channels_publish_on_commit(*, model: str, channel: Channel | None) -> None:
    schema = current_schema()
    channels = [channel] if channel else Channel.objects.filter(models__deployments__upstream_model=model).distinct()
    channel_ids = [item.pk for item in channels]

    def publish() -> None:
        for channel_id in channel_ids:
            channel_snapshot_publish(schema=schema, channel_id=channel_id)

    transaction.on_commit(publish)
