from django.urls import path

from apps.channels import routing_views, views

app_name = "channels"

urlpatterns = [
    path("o/<slug:org_slug>/channels/", views.channel_list_view, name="channel_list"),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/export.yaml", views.channel_export_view, name="channel_export"
    ),
    path("o/<slug:org_slug>/channels/<slug:channel_slug>/import/", views.channel_import_view, name="channel_import"),
    path("o/<slug:org_slug>/channels/+create/", views.channel_create_view, name="channel_create"),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/deployments/+add/",
        views.deployment_add_view,
        name="deployment_add",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/deployments/<int:deployment_id>/edit/",
        views.deployment_edit_view,
        name="deployment_edit",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/deployments/<int:deployment_id>/remove/",
        views.deployment_remove_view,
        name="deployment_remove",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/routing/",
        routing_views.channel_routing_view,
        name="channel_routing",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/routing/settings/",
        routing_views.routing_settings_view,
        name="routing_settings",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/routing/yaml/",
        routing_views.routing_yaml_view,
        name="routing_yaml",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/routing/dry-run/",
        routing_views.routing_dry_run_view,
        name="routing_dry_run",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/routing/versions/<int:number>/",
        routing_views.routing_version_view,
        name="routing_version",
    ),
    path(
        "o/<slug:org_slug>/channels/<slug:channel_slug>/routing/versions/<int:number>/rollback/",
        routing_views.routing_rollback_view,
        name="routing_rollback",
    ),
]
