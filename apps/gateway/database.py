"""The gateway's database calls (cold misses, outages, loading a budget counter): in a worker thread, the
connection given back to the pool as soon as the call ends, since no request cycle will close it."""

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def database_call(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    @wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(call)
