"""Money is integer micro-USD everywhere; Decimal only at the edges (input parsing, display)."""

from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_USD = Decimal(1_000_000)


def usd_to_micros(amount: Decimal | None) -> int | None:
    return None if amount is None else int((amount * MICROS_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))


def micros_to_usd(micros: int | None) -> str | None:
    """Exact dollars as text ("1.25"), None for None."""
    return None if micros is None else str(Decimal(micros) / MICROS_PER_USD)
