"""The versioned price sheets (apps/providers/prices/<version>.json) and exact cost arithmetic.

Prices are integers: micro-USD per million tokens (input, cached input, output), per request and per
image. A request's cost is integer micro-USD, its tokens rounded half up once; no float ever touches
money. The sheet in force is the newest whose `effective_from` has come. Staff overrides (a
negotiated price, BYOK at a routing fee) travel with the channel snapshot; a request costed with one
records `<sheet version>+o<override id>` as its price version.
"""

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import orjson

PRICES_DIR = Path(__file__).resolve().parent / "prices"
TOKENS_PER_PRICE_UNIT = 1_000_000
PRICE_FIELDS = ("input", "cached_input", "output", "per_request", "per_image")


@dataclass(frozen=True)
class ModelPrice:
    input_micros_per_mtok: int
    output_micros_per_mtok: int
    cached_input_micros_per_mtok: int | None = None  # None: a cached prompt token costs as any other
    per_request_micros: int = 0
    per_image_micros: int = 0
    provider: str = ""

    def cost_micros(
        self, *, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, images: int = 0, requests: int = 1
    ) -> int:
        """Tokens at their prices (rounded half up once), plus the per-request price `requests` times (a
        failed request pays none) and the per-image price."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_price = (
            self.input_micros_per_mtok
            if self.cached_input_micros_per_mtok is None
            else self.cached_input_micros_per_mtok
        )
        scaled = (
            (prompt_tokens - cached) * self.input_micros_per_mtok
            + cached * cached_price
            + completion_tokens * self.output_micros_per_mtok
        )
        tokens = (scaled + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT
        return tokens + requests * self.per_request_micros + images * self.per_image_micros

    def overridden(self, override: Mapping[str, Any]) -> "ModelPrice":
        """This price with an override's fields that are set (None: keep the sheet's)."""
        changes = {
            name: override[field]
            for field, name in zip(PRICE_FIELDS, _ATTRIBUTES, strict=True)
            if override.get(field) is not None
        }
        return replace(self, **changes)


_ATTRIBUTES = (
    "input_micros_per_mtok",
    "cached_input_micros_per_mtok",
    "output_micros_per_mtok",
    "per_request_micros",
    "per_image_micros",
)
UNPRICED = ModelPrice(0, 0)  # what an override starts from for a model the sheet does not list


def _model_price(entry: Mapping[str, Any]) -> ModelPrice:
    cached = entry.get("cached_input")
    return ModelPrice(
        input_micros_per_mtok=int(entry["input"]),
        output_micros_per_mtok=int(entry["output"]),
        cached_input_micros_per_mtok=None if cached is None else int(cached),
        per_request_micros=int(entry.get("per_request", 0)),
        per_image_micros=int(entry.get("per_image", 0)),
        provider=str(entry.get("provider", "")),
    )


@dataclass(frozen=True)
class PriceSheet:
    version: str
    effective_from: dt.date
    models: dict[str, ModelPrice]
    digest: str = ""  # SHA-256 of the file: a published version never changes

    def price(self, model: str, override: Mapping[str, Any] | None = None) -> ModelPrice | None:
        """The model's price (with the override's fields when one applies); None: the model has no price."""
        base = self.models.get(model)
        if override is None:
            return base
        return (base or UNPRICED).overridden(override)

    def cost_micros(
        self,
        *,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        images: int = 0,
        override: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Integer micro-USD, or None when the model has no price (the event records that)."""
        price = self.price(model, override)
        if price is None:
            return None
        return price.cost_micros(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached_tokens=cached_tokens, images=images
        )

    def version_with(self, override: Mapping[str, Any] | None) -> str:
        return self.version if override is None else f"{self.version}+o{override['id']}"


def _sheet_from_file(path: Path) -> PriceSheet:
    content = path.read_bytes()
    raw = orjson.loads(content)
    effective = raw.get("effective_from") or raw["version"][:10]
    return PriceSheet(
        version=raw["version"],
        effective_from=dt.date.fromisoformat(effective),
        models={name: _model_price(entry) for name, entry in raw["models"].items()},
        digest=hashlib.sha256(content).hexdigest(),
    )


@cache
def price_sheets() -> tuple[PriceSheet, ...]:
    """Every sheet in the repository, oldest first (by effective date, then version)."""
    sheets = [_sheet_from_file(path) for path in PRICES_DIR.glob("*.json")]
    return tuple(sorted(sheets, key=lambda sheet: (sheet.effective_from, sheet.version)))


@cache
def _sheet_on(day: dt.date) -> PriceSheet:
    in_force = [sheet for sheet in price_sheets() if sheet.effective_from <= day]
    return in_force[-1] if in_force else price_sheets()[0]


def price_sheet(at: dt.date | None = None) -> PriceSheet:
    """The sheet in force on `at` (UTC; default today): the newest that has taken effect."""
    return _sheet_on(at or dt.datetime.now(dt.UTC).date())


def override_in_force(overrides: Sequence[Mapping[str, Any]] | None, *, at_ms: int) -> Mapping[str, Any] | None:
    """The first override that has taken effect, of a deployment's list (ordered by precedence: the
    channel's own before model-wide ones, newest first within each)."""
    return next((override for override in overrides or () if override["from_ms"] <= at_ms), None)
