"""The dates any form, API or command accepts: far enough to cover real use, inside what datetime can add to."""

import datetime as dt

DAY_MIN, DAY_MAX = dt.date(2000, 1, 1), dt.date(9000, 12, 31)
DAY_RANGE_MESSAGE = f"Choose a date between {DAY_MIN} and {DAY_MAX}."


def day_in_range(day: dt.date) -> bool:
    return DAY_MIN <= day <= DAY_MAX
