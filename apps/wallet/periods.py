"""Metering periods of a wallet: a month from an anchor (the 1st, or the day a plan period began)."""

import calendar
import datetime as dt


def month_bounds(at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC calendar month holding `at`: a new wallet's first period."""
    start = at.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, add_month(start)


def add_month(at: dt.datetime) -> dt.datetime:
    """The same day and time a month later (the month's last day when it is shorter)."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def period_holding(start: dt.datetime, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The month-long period, in the sequence that begins at `start`, that holds `at` (at >= start)."""
    end = add_month(start)
    while end <= at:
        start, end = end, add_month(end)
    return start, end
