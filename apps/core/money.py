"""Money is integer micro-USD everywhere; Decimal only at the edges (input parsing, display)."""

from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_USD = 1_000_000
MICROS_PER_CENT = 10_000


def usd_to_micros(amount: Decimal | None) -> int | None:
    return None if amount is None else int((amount * MICROS_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))


def micros_to_usd(micros: int | None) -> str | None:
    """Exact dollars as text ("1.25"), None for None."""
    return None if micros is None else usd_text(micros)


def usd_cents_text(micros: int) -> str:
    """'$41.00': dollars and cents, rounded half up (for banners and emails)."""
    dollars = (Decimal(micros) / MICROS_PER_USD).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${dollars:,}"


def usd_text(micros: int) -> str:
    """'41.000001': exact dollars as a decimal string (machine-readable payloads)."""
    return str(Decimal(micros) / MICROS_PER_USD)


def usd_display(micros: int) -> str:
    """'$12.50' for whole cents, '$0.000183' otherwise: exact, never rounded away."""
    if micros % MICROS_PER_CENT == 0:
        return usd_cents_text(micros)
    return f"${Decimal(micros) / MICROS_PER_USD:,.6f}"


def usd_fixed(micros: int | None) -> str:
    """'0.700052': dollars with all six decimals, exact (tables and exports: columns line up)."""
    return f"{Decimal(micros or 0) / MICROS_PER_USD:.6f}"
