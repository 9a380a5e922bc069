import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from apps.core.dates import DAY_RANGE_MESSAGE, day_in_range
from apps.providers.models import ProviderType
from apps.spend.models import ExportFormat
from apps.spend.reports import MAX_HOUR_BUCKET_DAYS, REPORT_DIMENSIONS

MAX_RANGE_DAYS = 3 * 366
# What one page draws: a row per bucket and group comes back, so the finest buckets cover short ranges only.
PAGE_MAX_DAYS = {"hour": 7, "day": 92}
DRILL_DIMENSIONS = [
    ("key", "Key"),
    ("user", "User"),
    ("team", "Team"),
    ("channel", "Channel"),
    ("model", "Model"),
    ("feature", "Feature"),
]


class _RangeForm(forms.Form):
    """A UTC day range (default: the last seven days) and filters by dimension."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    key = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    team = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    user = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    channel = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    model = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    feature = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.now().astimezone(dt.UTC).date()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=6)
        for day in (start, end):
            if not day_in_range(day):
                raise forms.ValidationError(DAY_RANGE_MESSAGE)
        if start > end:
            raise forms.ValidationError("The range's start is on or before its end.")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_RANGE_DAYS} days.")
        if data.get("bucket") == "hour" and (end - start).days >= MAX_HOUR_BUCKET_DAYS:
            raise forms.ValidationError(f"Hourly buckets cover at most {MAX_HOUR_BUCKET_DAYS} days.")
        data.update(start=start, end=end)
        return data

    def filters(self) -> dict[str, int | str]:
        return {
            name: self.cleaned_data[name]
            for name in REPORT_DIMENSIONS
            if name in self.fields and self.cleaned_data.get(name) not in (None, "")
        }


class ReportRangeForm(_RangeForm):
    """The Billing page: a range, its chart bucket and the dimension to drill down by."""

    bucket = forms.ChoiceField(
        choices=[("", "Automatic"), ("hour", "Hour"), ("day", "Day"), ("month", "Month")], required=False
    )
    by = forms.ChoiceField(label="Drill down by", choices=DRILL_DIMENSIONS, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "start" not in data:  # the range itself was refused
            return data
        bucket = data.get("bucket") or _automatic_bucket(data["start"], data["end"])
        limit = PAGE_MAX_DAYS.get(bucket)
        if limit is not None and (data["end"] - data["start"]).days >= limit:
            raise forms.ValidationError(
                f"{bucket.capitalize()} buckets cover at most {limit} days on this page; choose a coarser bucket "
                "(exports take any range)."
            )
        data.update(bucket=bucket, by=data.get("by") or "key")
        return data


class ExportForm(_RangeForm):
    """A finance export: the range, a time bucket (or none), any grouping, or every request; a format."""

    bucket = forms.ChoiceField(
        label="Per", choices=[("", "Whole range"), ("hour", "Hour"), ("day", "Day"), ("month", "Month")], required=False
    )
    group_by = forms.MultipleChoiceField(
        label="Group by",
        choices=[(name, name) for name in REPORT_DIMENSIONS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    every_request = forms.BooleanField(required=False)
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.CSV)

    def clean_group_by(self) -> list[str]:
        return list(dict.fromkeys(self.cleaned_data.get("group_by") or []))  # each dimension once

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        days = settings.SPEND_RETENTION_DAYS
        self.fields["every_request"].label = f"Every request (the ledger's rows: the last {days} days)"


def _automatic_bucket(start: dt.date, end: dt.date) -> str:
    days = (end - start).days + 1
    return "hour" if days <= 2 else "day" if days <= PAGE_MAX_DAYS["day"] else "month"


class ReconciliationForm(forms.Form):
    provider = forms.ChoiceField(choices=ProviderType.choices)
    invoice = forms.FileField(
        label="Provider invoice (CSV)",
        help_text="Columns: a date (YYYY-MM-DD) and an amount in USD; one line or more a day.",
    )
