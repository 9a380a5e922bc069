from django import forms

from apps.core.dates import DAY_RANGE_MESSAGE, day_in_range


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=254, label="Actor email")
    target_type = forms.CharField(required=False, max_length=64, label="Target type")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        for name in ("since", "until"):
            day = cleaned.get(name)
            if day is not None and not day_in_range(day):
                self.add_error(name, DAY_RANGE_MESSAGE)
                cleaned.pop(name, None)
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("'Since' must be on or before 'until'.")
        return cleaned
