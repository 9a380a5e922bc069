from django import template

from apps.core.money import usd_fixed

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """Integer micro-USD as dollars with six decimals (Decimal: exact, for display only)."""
    return usd_fixed(micros)
