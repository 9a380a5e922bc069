from datetime import date

from django import forms

MIN_DAY, MAX_DAY = date(2000, 1, 1), date(9000, 12, 31)


class SpendLogQueryForm(forms.Form):
    organization = forms.SlugField(required=False)
    key_id = forms.IntegerField(required=False, min_value=1)
    team_id = forms.IntegerField(required=False, min_value=1)
    model = forms.CharField(required=False, max_length=200)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=500)

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        for name in ("start", "end"):
            day = cleaned.get(name)
            if day is not None and not MIN_DAY <= day <= MAX_DAY:
                self.add_error(name, f"Choose a date between {MIN_DAY} and {MAX_DAY}.")
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "'end' must be on or after 'start'.")
        return cleaned
