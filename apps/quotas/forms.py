"""Limits as dashboard forms.

The fields are text as typed; the management API's serializer validates and converts them, so a
limit means the same and is refused for the same reasons whether it came from a page or the API.
"""

from typing import Any

from django import forms

from apps.core.errors import HyditeError
from apps.quotas.api import QuotaLimitFields, quota_info
from apps.quotas.limits import GATEWAY_DEFAULT_FIELDS, RPM_MAX, TPM_MAX, GatewayDefaults
from apps.quotas.models import BudgetDuration, QuotaFields

LINE_FIELDS = frozenset({"models", "blocked_models", "allowed_ips"})  # one entry per line


def _number(step: str) -> forms.NumberInput:
    return forms.NumberInput(attrs={"min": 0, "step": step})


def _lines() -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})


def _messages(detail: Any) -> list[str]:
    """A serializer field's errors as lines; a list field's are by entry (a line of the textarea)."""
    if isinstance(detail, dict):
        return [f"Line {int(index) + 1}: {message}" for index, item in detail.items() for message in _messages(item)]
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


class QuotaLimitsForm(forms.Form):
    """One layer's limits; blank is "no limit". Only the fields that differ from the holder's are sent."""

    serializer_class: type[QuotaLimitFields] = QuotaLimitFields

    max_budget = forms.CharField(label="Max budget (USD)", required=False, widget=_number("0.000001"))
    soft_budget = forms.CharField(
        label="Soft budget (USD)", required=False, widget=_number("0.000001"), help_text="Alert threshold only."
    )
    budget_duration = forms.CharField(label="Budget period", widget=forms.Select(choices=BudgetDuration.choices))
    rpm_limit = forms.CharField(label="Requests / minute", required=False, widget=_number("1"))
    tpm_limit = forms.CharField(label="Tokens / minute", required=False, widget=_number("1"))
    models = forms.CharField(
        label="Allowed models",
        required=False,
        widget=_lines(),
        help_text="One pattern per line, * and ? as wildcards; blank: every model of the channel.",
    )
    blocked_models = forms.CharField(
        label="Blocked models", required=False, widget=_lines(), help_text="One pattern per line."
    )
    allowed_ips = forms.CharField(
        label="Allowed IPs", required=False, widget=_lines(), help_text="One address or CIDR per line; blank: any."
    )

    def __init__(self, data: Any = None, *, holder: QuotaFields) -> None:
        super().__init__(data, initial=self.initial_for(holder))
        self._validated: QuotaLimitFields | None = None

    @staticmethod
    def initial_for(holder: QuotaFields) -> dict[str, str]:
        return {name: _as_text(value) for name, value in quota_info(holder).items()}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        payload = {name: _api_value(name, cleaned[name]) for name in self.changed_data if name in cleaned}
        serializer = self.serializer_class(data=payload)
        try:
            valid = serializer.is_valid()
        except HyditeError as exc:  # e.g. allowed_ips_clean, naming the entry: allowed_ips[2]
            self.add_error(self._field(exc.param), exc.message)
            return cleaned
        if valid:
            self._validated = serializer
        for name, detail in serializer.errors.items():
            self.add_error(self._field(name), _messages(detail))
        return cleaned

    def _field(self, param: str | None) -> str | None:
        name = (param or "").split("[")[0].split(".")[0]
        return name if name in self.fields else None

    def changes(self) -> dict[str, Any]:
        """The model fields to set, as the management API would set them (a valid form only)."""
        if self._validated is None:
            raise ValueError("changes() of a form that is not valid")
        return self._validated.limits()


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(value)
    return "" if value is None else str(value)


def _api_value(name: str, text: str) -> Any:
    """What the management API would receive for a field: a list of lines, or None for blank (no limit)."""
    if name in LINE_FIELDS:
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text or None


def _per_minute(label: str, maximum: int) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=0, max_value=maximum, help_text="0 or blank: off.")


class GatewayDefaultsForm(forms.Form):
    key_rpm = _per_minute("Per key: requests / minute", RPM_MAX)
    key_tpm = _per_minute("Per key: tokens / minute", TPM_MAX)
    ip_rpm = _per_minute("Per client IP: requests / minute", RPM_MAX)
    ip_tpm = _per_minute("Per client IP: tokens / minute", TPM_MAX)

    def defaults(self) -> GatewayDefaults:
        return GatewayDefaults(**{name: self.cleaned_data[name] for name in GATEWAY_DEFAULT_FIELDS})
