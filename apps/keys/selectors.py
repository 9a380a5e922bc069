from dataclasses import dataclass

from django.db.models import Count, Sum

from apps.accounts.models import User
from apps.keys.models import VirtualKey
from apps.orgs.models import Membership, Organization
from apps.orgs.roles import Action, role_allows
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


@dataclass(frozen=True)
class KeyActivity:
    requests: int
    cost_micros: int
    total_tokens: int
    recent: list[SpendLog]


def key_activity(*, key: VirtualKey, limit: int = 50) -> KeyActivity:
    """Totals and the latest ledger rows of one key (failures and their reasons included)."""
    rows = SpendLog.objects.filter(organization_id=key.organization_id, key_id=key.pk)
    totals = rows.aggregate(requests=Count("id"), cost=Sum("cost_micros"), tokens=Sum("total_tokens"))
    return KeyActivity(
        requests=totals["requests"],
        cost_micros=totals["cost"] or 0,
        total_tokens=totals["tokens"] or 0,
        recent=list(rows.order_by("-created_at", "-id")[:limit]),
    )


def teams_where_user_may_use_keys(*, organization_id: int, user: User) -> set[int] | None:
    """The teams where `user` may use keys now (developer or above there, the organisation role being the
    floor, as access_team_by_slug reads it); None: every team. An inactive user or a non-member: none."""
    if not user.is_active:
        return set()
    rows = list(Membership.objects.filter(organization_id=organization_id, user=user).values_list("team_id", "role"))
    org_role = next((role for team_id, role in rows if team_id is None), None)
    if org_role is None:
        return set()
    if role_allows(org_role, Action.USE):
        return None
    return {team_id for team_id, role in rows if team_id is not None and role_allows(role, Action.USE)}


def key_owner_may_use(*, key: VirtualKey) -> bool:
    """Whether the key's owner may still use it; a key with no owner (a service-account key) always may."""
    if key.user is None:
        return True
    teams = teams_where_user_may_use_keys(organization_id=key.organization_id, user=key.user)
    return teams is None or key.team_id in teams
