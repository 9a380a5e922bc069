"""The versioned price sheet (apps/providers/prices/<version>.json) and exact cost arithmetic.

Prices are integers: micro-USD per million tokens. A request's cost is integer
micro-USD, rounded half up once per request; no float ever touches money.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

PRICES_DIR = Path(__file__).resolve().parent / "prices"
TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    input_micros_per_mtok: int
    output_micros_per_mtok: int


@dataclass(frozen=True)
class PriceSheet:
    version: str
    models: dict[str, ModelPrice]

    def cost_micros(self, *, model: str, prompt_tokens: int, completion_tokens: int) -> int | None:
        """Integer micro-USD, or None when the model has no price (the event records that)."""
        price = self.models.get(model)
        if price is None:
            return None
        scaled = prompt_tokens * price.input_micros_per_mtok + completion_tokens * price.output_micros_per_mtok
        return (scaled + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT


@cache
def price_sheet() -> PriceSheet:
    """The newest sheet in the repository."""
    newest = max(PRICES_DIR.glob("*.json"))
    raw = orjson.loads(newest.read_bytes())
    models = {name: ModelPrice(int(entry["input"]), int(entry["output"])) for name, entry in raw["models"].items()}
    return PriceSheet(version=raw["version"], models=models)
