from decimal import Decimal
from typing import Any

from django import forms

from apps.channels.models import Channel
from apps.core.money import usd_to_micros
from apps.providers.prices import PRICE_FIELDS


def _usd_price(label: str) -> forms.DecimalField:
    return forms.DecimalField(label=label, min_value=Decimal(0), max_digits=13, decimal_places=6, required=False)


class PriceOverrideForm(forms.Form):
    model = forms.CharField(max_length=200, help_text="The upstream model, as the price sheets name it.")
    channel = forms.ModelChoiceField(queryset=Channel.objects.none(), required=False, empty_label="Every channel")
    effective_from = forms.DateTimeField(
        label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    input = _usd_price("Input (USD / 1M tokens)")
    cached_input = _usd_price("Cached input (USD / 1M tokens)")
    cache_write = _usd_price("Cache write (USD / 1M tokens)")
    cache_write_1h = _usd_price("Cache write, 1 hour (USD / 1M tokens)")
    output = _usd_price("Output (USD / 1M tokens)")
    per_request = _usd_price("Per request (USD)")
    per_image = _usd_price("Per image (USD)")
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(organization_id=organization_id).order_by("name")  # type: ignore[attr-defined]

    def prices(self) -> dict[str, int | None]:
        return {name: usd_to_micros(self.cleaned_data.get(name)) for name in PRICE_FIELDS}
