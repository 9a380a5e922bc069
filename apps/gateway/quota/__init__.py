"""Quotas on the hot path: static checks from the key snapshot, then one atomic Redis script.

Layers stack (key, team, org, wallet, plan, gateway; layers.py); a request must pass all of them and the
error names the layer that tripped. Requests and tokens per minute are counted in one-second buckets
over a sliding 60-second window (no 2x burst at a minute boundary; lua/ring.lua). Budgets reserve the
request's worst-case cost before it is forwarded and settle to the real cost afterwards; a reservation
that is never settled (a crashed process) is released by the sweep (settle.py). Far from every limit a
request does not wait for Redis (headroom.py): what it reserves is charged in the same event-loop turn,
summed with the others of its plan and second (admitter.py), and corrected to the real usage when it
ends. While Redis is down, the fail-open policy limits each process on its own (local.py).

The gateway calls `Quotas` (quotas.py); the scripts, their arguments and replies are in scripts.py.
"""

from apps.gateway.quota.admission import Admission, Correction, Settlement
from apps.gateway.quota.layers import Dimension, Layer, access_checks, layers_for, model_refusal
from apps.gateway.quota.plans import PlanCache, QuotaPlan, quota_plan
from apps.gateway.quota.quotas import Quotas
from apps.gateway.quota.scripts import run_scripts, settle_call
from apps.gateway.quota.settle import RESERVATION_TTL_S
from apps.gateway.quota.stream_allowance import StreamAllowance, StreamCut

__all__ = [
    "RESERVATION_TTL_S",
    "Admission",
    "Correction",
    "Dimension",
    "Layer",
    "PlanCache",
    "QuotaPlan",
    "Quotas",
    "Settlement",
    "StreamAllowance",
    "StreamCut",
    "access_checks",
    "layers_for",
    "model_refusal",
    "quota_plan",
    "run_scripts",
    "settle_call",
]
