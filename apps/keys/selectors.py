from dataclasses import dataclass

from django.db.models import Count, Sum

from apps.keys.models import VirtualKey
from apps.orgs.models import Organization
from apps.spend.models import SpendLog


@dataclass(frozen=True)
class KeyRow:
    key: VirtualKey
    requests: int
    cost_micros: int


def key_list_with_spend(*, organization: Organization) -> list[KeyRow]:
    keys = list(
        VirtualKey.objects.filter(organization=organization)
        .select_related("team", "channel", "user")
        .order_by("-created_at")
    )
    totals = {
        row["key_id"]: row
        for row in SpendLog.objects.filter(organization_id=organization.pk, key_id__in=[k.pk for k in keys])
        .values("key_id")
        .annotate(requests=Count("id"), cost=Sum("cost_micros"))
    }
    return [
        KeyRow(
            key=key,
            requests=totals.get(key.pk, {}).get("requests", 0),
            cost_micros=totals.get(key.pk, {}).get("cost") or 0,
        )
        for key in keys
    ]
