from decimal import Decimal

from django import template

from apps.core.money import MICROS_PER_USD

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """Integer micro-USD as dollars with six decimals (Decimal: exact, for display only)."""
    return f"{Decimal(micros or 0) / MICROS_PER_USD:.6f}"
