import datetime as dt
from typing import Any

from django import forms

from apps.channels.models import Channel
from apps.keys.access import teams_where_user_may_mint
from apps.keys.api import LimitFields
from apps.keys.models import VirtualKey
from apps.orgs.access import OrgAccess
from apps.orgs.models import Team
from apps.quotas.forms import QuotaLimitsForm


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    channel = forms.ModelChoiceField(queryset=Channel.objects.none())

    def __init__(self, *args: object, teams: list[Team], channels: list[Channel], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].queryset = Team.objects.filter(pk__in=[team.pk for team in teams])  # type: ignore[attr-defined]
        self.fields["channel"].queryset = Channel.objects.filter(pk__in=[c.pk for c in channels])  # type: ignore[attr-defined]
        if teams:
            self.fields["team"].initial = teams[0].pk
        default_channel = next((c for c in channels if c.is_default), None)
        if default_channel is not None:
            self.fields["channel"].initial = default_channel.pk


class KeyRenameForm(forms.Form):
    name = forms.CharField(max_length=100)


class KeyLimitsForm(QuotaLimitsForm):
    """A key's limits: its layer's, and when it expires (validated as POST /key/update's `expires`)."""

    serializer_class = LimitFields

    expires = forms.CharField(
        label="Expires (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
        help_text="Blank: never.",
    )

    def __init__(self, data: Any = None, *, holder: VirtualKey) -> None:
        super().__init__(data, holder=holder)
        expires_at = holder.expires_at
        self.initial["expires"] = expires_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") if expires_at else ""


def key_create_form(access: OrgAccess, data: object = None) -> KeyCreateForm:
    """The mint form with the teams the user may mint in and the organisation's channels (default first)."""
    channels = list(Channel.objects.filter(organization=access.organization).order_by("-is_default", "name"))
    return KeyCreateForm(data, teams=teams_where_user_may_mint(org_access=access), channels=channels)
