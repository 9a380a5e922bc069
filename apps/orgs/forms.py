from django import forms

from apps.orgs.models import LeaverKeyAction
from apps.orgs.roles import TEAM_ROLES, Role


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=120)


class TeamRenameForm(forms.Form):
    name = forms.CharField(max_length=120)


class TeamInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=[(role.value, role.label) for role in TEAM_ROLES], initial=Role.DEVELOPER)


class OrgInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class TeamRoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(role.value, role.label) for role in TEAM_ROLES])


class OrgRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class LeaverKeyActionForm(forms.Form):
    leaver_key_action = forms.ChoiceField(label="Their keys", choices=LeaverKeyAction.choices, widget=forms.RadioSelect)
