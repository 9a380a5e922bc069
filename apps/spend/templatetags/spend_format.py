from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """Integer micro-USD as dollars with six decimals (Decimal: exact, for display only)."""
    return f"{Decimal(micros or 0) / Decimal(1_000_000):.6f}"
