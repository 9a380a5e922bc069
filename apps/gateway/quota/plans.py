"""A key's quota plan: its layers with their part of the scripts' KEYS and ARGV packed once, cached per key and IP."""

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from apps.gateway.quota.layers import Dimension, Layer, layers_for
from apps.gateway.redis_wire import resp_args
from apps.keys.snapshots import KeySnapshot
from apps.quotas.limits import GatewayDefaults
from apps.quotas.reservations import PLAN_RECORD_PREFIX

MAX_PLANS = 100_000
HEADROOM_SHARE = 10  # a request skips the wait for Redis only if a tenth of each limit stays free (headroom.py)


class HeadroomCheck(NamedTuple):
    """One limit of a plan as Headroom checks it."""

    key: str  # the layer's rate ring or budget counter
    dimension: Dimension
    limit: int
    share: int  # the part of the limit that must stay free


@dataclass(frozen=True)
class QuotaPlan:
    """A key's layers, with their part of the admission script's KEYS and ARGV packed once (reused while valid)."""

    layers: list[Layer]
    keys: bytes  # per layer its rate ring and budget counter, as RESP bulk strings
    key_count: int
    limits: bytes  # layer count, then per layer rpm, tpm, budget (-1: none)
    limit_count: int
    record_key: bytes  # where the keys a reservation holds are recorded, for settling and sweeping
    record: bytes  # "rate keys|budget keys"
    checks: tuple[HeadroomCheck, ...] = ()
    budgeted: bool = False  # a layer has a budget: what a request reserves must bound what it can cost


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def quota_plan(layers: list[Layer]) -> QuotaPlan:
    keys = [name for layer in layers for name in (layer.rate_key, layer.budget_key or layer.rate_key + ":b")]
    limits = [len(layers)]
    for layer in layers:
        limits += [_or_none(layer.rpm), _or_none(layer.tpm), _or_none(layer.budget)]
    rate_keys = " ".join(layer.rate_key for layer in layers if layer.rated)
    budget_keys = " ".join(layer.budget_key for layer in layers if layer.budget is not None)
    record = f"{rate_keys}|{budget_keys}".encode()
    return QuotaPlan(
        layers=layers,
        keys=resp_args(keys),
        key_count=len(keys),
        limits=resp_args(limits),
        limit_count=len(limits),
        record_key=(PLAN_RECORD_PREFIX + hashlib.sha256(record).hexdigest()[:24]).encode(),
        record=record,
        checks=tuple(_headroom_checks(layers)),
        budgeted=any(layer.budget is not None for layer in layers),
    )


def _headroom_checks(layers: list[Layer]) -> Iterator[HeadroomCheck]:
    for layer in layers:
        for key, dimension, limit in (
            (layer.rate_key, Dimension.RPM, layer.rpm),
            (layer.rate_key, Dimension.TPM, layer.tpm),
            (layer.budget_key, Dimension.BUDGET, layer.budget),
        ):
            if limit is not None:
                yield HeadroomCheck(key, dimension, limit, limit // HEADROOM_SHARE)


class PlanCache:
    """Plans per key and client IP, rebuilt when the key's snapshot says something new or a UTC day begins
    (a budget period may end).

    A snapshot is read again every GATEWAY_SNAPSHOT_TTL_MS as a new dict: an equal one keeps the plan (and
    the old dict is let go). A change of the instance's gateway defaults republishes every key snapshot,
    so it rebuilds too.
    """

    def __init__(self, defaults: GatewayDefaults) -> None:
        self.defaults = defaults
        self._plans: dict[tuple[str, int, str], tuple[int, KeySnapshot, QuotaPlan]] = {}

    def __len__(self) -> int:
        """How many plans are cached."""
        return len(self._plans)

    def plan(self, key: KeySnapshot, client_ip: str) -> QuotaPlan:
        day = int(time.time() // 86_400)
        name = (key["schema"], key["id"], client_ip)
        cached = self._plans.get(name)
        if cached is not None and cached[0] == day:
            if cached[1] is key:
                return cached[2]
            if cached[1] == key:  # the same snapshot, read again
                self._plans[name] = (day, key, cached[2])
                return cached[2]
        layers = layers_for(key, client_ip=client_ip, defaults=self.defaults, now=dt.datetime.now(dt.UTC))
        plan = quota_plan(layers)
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[name] = (day, key, plan)
        return plan
