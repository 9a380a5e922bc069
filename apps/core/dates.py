"""The dates any form, API or command accepts: far enough to cover real use, inside what datetime can add to."""

import datetime as dt

from django.utils import timezone

DAY_MIN, DAY_MAX = dt.date(2000, 1, 1), dt.date(9000, 12, 31)
DAY_RANGE_MESSAGE = f"Choose a date between {DAY_MIN} and {DAY_MAX}."


def day_in_range(day: dt.date) -> bool:
    return DAY_MIN <= day <= DAY_MAX


def days_filter(field: str, since: dt.date | None, until: dt.date | None) -> dict[str, dt.datetime]:
    """Queryset filters keeping `field` within whole days, `since` and `until` included (the current time zone)."""
    zone = timezone.get_current_timezone()
    filters = {}
    if since:
        filters[f"{field}__gte"] = dt.datetime.combine(since, dt.time.min, tzinfo=zone)
    if until:
        filters[f"{field}__lt"] = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return filters
