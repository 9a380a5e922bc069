"""The dates any form, API or command accepts: far enough to cover real use, inside what datetime can add to."""

import datetime as dt
from typing import TypeVar

from django.db.models import Model, QuerySet
from django.utils import timezone

M = TypeVar("M", bound=Model)

DAY_MIN, DAY_MAX = dt.date(2000, 1, 1), dt.date(9000, 12, 31)
DAY_RANGE_MESSAGE = f"Choose a date between {DAY_MIN} and {DAY_MAX}."


def day_in_range(day: dt.date) -> bool:
    return DAY_MIN <= day <= DAY_MAX


def day_start(day: dt.date) -> dt.datetime:
    """Midnight starting `day`, in the current time zone."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def created_within_days(rows: QuerySet[M], *, since: dt.date | None, until: dt.date | None) -> QuerySet[M]:
    """Rows created from the start of `since` to the end of `until` (each bound optional, both included)."""
    if since:
        rows = rows.filter(created_at__gte=day_start(since))
    if until:
        rows = rows.filter(created_at__lt=day_start(until + dt.timedelta(days=1)))
    return rows
