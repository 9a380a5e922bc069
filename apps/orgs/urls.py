from django.urls import path

from apps.orgs import views

app_name = "orgs"

urlpatterns = [
    path("o/<slug:org_slug>/teams/", views.team_list_view, name="team_list"),
    path("o/<slug:org_slug>/teams/+create/", views.team_create_view, name="team_create"),
    path("o/<slug:org_slug>/members/invite/", views.org_invite_view, name="org_invite"),
    path("o/<slug:org_slug>/teams/<slug:team_slug>/", views.team_detail_view, name="team_detail"),
    path("o/<slug:org_slug>/teams/<slug:team_slug>/invite/", views.team_invite_view, name="team_invite"),
    path("o/<slug:org_slug>/teams/<slug:team_slug>/rename/", views.team_rename_view, name="team_rename"),
    path("o/<slug:org_slug>/teams/<slug:team_slug>/delete/", views.team_delete_view, name="team_delete"),
    path("o/<slug:org_slug>/teams/<slug:team_slug>/limits/", views.team_limits_view, name="team_limits"),
    path("o/<slug:org_slug>/members/<int:membership_id>/role/", views.membership_role_view, name="membership_role"),
    path(
        "o/<slug:org_slug>/members/<int:membership_id>/remove/", views.membership_remove_view, name="membership_remove"
    ),
    path(
        "o/<slug:org_slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path("o/<slug:org_slug>/settings/access/", views.settings_access_view, name="settings_access"),
    path("o/<slug:org_slug>/settings/access/leavers/", views.leaver_key_action_view, name="leaver_key_action"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
]
