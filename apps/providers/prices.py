"""The versioned price sheets (apps/providers/prices/<version>.json) and exact cost arithmetic.

Prices are integers: micro-USD per million tokens (input, cached input, cache write, one-hour cache
write, output), per request and per image. A request's cost is integer micro-USD, its tokens rounded
half up once; no float ever touches money. A prompt's tokens are uncached input + cache reads + cache
writes (Anthropic bills writes above the input price: 1.25x for its 5-minute cache, 2x for its 1-hour
one). The sheet in force is the newest whose `effective_from` has come. Staff overrides (a negotiated
price, BYOK at a routing fee) travel with the channel snapshot; a request costed with one records
`<sheet version>+o<override id>` as its price version.
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
PRICE_FIELDS = ("input", "cached_input", "cache_write", "cache_write_1h", "output", "per_request", "per_image")


@dataclass(frozen=True)
class ModelPrice:
    input_micros_per_mtok: int
    output_micros_per_mtok: int
    cached_input_micros_per_mtok: int | None = None  # None: a cached prompt token costs as any other
    per_request_micros: int = 0
    per_image_micros: int = 0
    provider: str = ""
    cache_write_micros_per_mtok: int | None = None  # None: a token written to the cache costs as input
    cache_write_1h_micros_per_mtok: int | None = None  # None: a one-hour write costs as any cache write

    @property
    def cached_price(self) -> int:
        return (
            self.input_micros_per_mtok
            if self.cached_input_micros_per_mtok is None
            else self.cached_input_micros_per_mtok
        )

    @property
    def cache_write_price(self) -> int:
        written = self.cache_write_micros_per_mtok
        return self.input_micros_per_mtok if written is None else written

    @property
    def cache_write_1h_price(self) -> int:
        written = self.cache_write_1h_micros_per_mtok
        return self.cache_write_price if written is None else written

    def cost_micros(
        self,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        images: int = 0,
        requests: int = 1,
    ) -> int:
        """Tokens at their prices (rounded half up once), plus the per-request price `requests` times (a
        failed request pays none) and the per-image price.

        Cache reads and writes are parts of the prompt (writes of one hour a part of the writes); a count
        beyond what holds it is cut to fit.
        """
        cached = min(max(cached_tokens, 0), prompt_tokens)
        written = min(max(cache_write_tokens, 0), prompt_tokens - cached)
        written_1h = min(max(cache_write_1h_tokens, 0), written)
        scaled = (
            (prompt_tokens - cached - written) * self.input_micros_per_mtok
            + cached * self.cached_price
            + (written - written_1h) * self.cache_write_price
            + written_1h * self.cache_write_1h_price
            + completion_tokens * self.output_micros_per_mtok
        )
        tokens = (scaled + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT
        return tokens + requests * self.per_request_micros + images * self.per_image_micros

    def bound_micros(self, *, prompt_tokens: int, completion_tokens: int) -> int:
        """The most a request of these tokens can cost, whatever the provider reports of its prompt cache:
        every prompt token at the dearest price a prompt token may have (what a reservation is priced at)."""
        dearest = max(self.input_micros_per_mtok, self.cached_price, self.cache_write_price, self.cache_write_1h_price)
        scaled = prompt_tokens * dearest + completion_tokens * self.output_micros_per_mtok
        return (scaled + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT + self.per_request_micros

    def overridden(self, override: Mapping[str, Any]) -> "ModelPrice":
        """This price with an override's fields that are set (None: keep the sheet's).

        A cache write's price follows an override of the input price, and a one-hour write's an override
        of the write price, unless the override sets them too: an override from before writes had a price
        of their own (BYOK at input 0, a negotiated input) keeps billing writes as its input.
        """
        attribute = dict(zip(PRICE_FIELDS, _ATTRIBUTES, strict=True))
        overridden = {field for field in PRICE_FIELDS if override.get(field) is not None}
        changes = {attribute[field]: override[field] for field in overridden}
        for derived, base in _DERIVED_PRICES:
            if derived not in overridden and base in overridden:
                changes[attribute[derived]] = None
                overridden.add(derived)
        return replace(self, **changes)


_ATTRIBUTES = (
    "input_micros_per_mtok",
    "cached_input_micros_per_mtok",
    "cache_write_micros_per_mtok",
    "cache_write_1h_micros_per_mtok",
    "output_micros_per_mtok",
    "per_request_micros",
    "per_image_micros",
)
# (a price, the price it defaults to), in the order they derive
_DERIVED_PRICES = (("cache_write", "input"), ("cache_write_1h", "cache_write"))
UNPRICED = ModelPrice(0, 0)  # what an override starts from for a model the sheet does not list


def _optional_price(entry: Mapping[str, Any], name: str) -> int | None:
    value = entry.get(name)
    return None if value is None else int(value)


def _model_price(entry: Mapping[str, Any]) -> ModelPrice:
    return ModelPrice(
        input_micros_per_mtok=int(entry["input"]),
        output_micros_per_mtok=int(entry["output"]),
        cached_input_micros_per_mtok=_optional_price(entry, "cached_input"),
        per_request_micros=int(entry.get("per_request", 0)),
        per_image_micros=int(entry.get("per_image", 0)),
        provider=str(entry.get("provider", "")),
        cache_write_micros_per_mtok=_optional_price(entry, "cache_write"),
        cache_write_1h_micros_per_mtok=_optional_price(entry, "cache_write_1h"),
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
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        images: int = 0,
        override: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Integer micro-USD, or None when the model has no price (the event records that)."""
        price = self.price(model, override)
        if price is None:
            return None
        return price.cost_micros(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            images=images,
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
