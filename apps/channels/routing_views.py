"""A channel's routing page: its common settings (every plan), its routing YAML (Enterprise), its versions with a
diff and a rollback each, a dry run, and its deployments' health. Who may change a channel (an org admin) changes
its routing; every member sees it and may dry-run it."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.channels.forms import ChannelYamlForm
from apps.channels.models import Channel, Deployment, RoutingVersion
from apps.channels.router_policy import ROUTING_PRESETS, router_resolve
from apps.channels.router_services import channel_router_common_set
from apps.channels.routing_dry_run import routing_dry_run
from apps.channels.routing_forms import (
    RoutingSettingsForm,
    dry_run_forms,
    fallback_forms,
    routing_settings_error,
)
from apps.channels.routing_health import deployments_health
from apps.channels.routing_rollback import routing_rollback
from apps.channels.selectors import (
    access_channel_by_slug,
    channel_router_preset,
    routing_version_diff,
    routing_version_summaries,
    routing_yaml_allowed_here,
)
from apps.channels.services import InvalidDeployment
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.core.errors import HyditeError, NotFound
from apps.core.schemas import current_schema
from apps.dashboard.edge import checked, flashed, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action

VERSIONS_SHOWN = 50


def _version(channel: Channel, number: int) -> RoutingVersion:
    version = channel.routing_versions.select_related("author").filter(number=number).first()
    if version is None:
        raise NotFound("Version not found.")
    return version


def _aliases(channel: Channel) -> list[str]:
    return list(channel.models.order_by("alias").values_list("alias", flat=True))


def _page(request: HttpRequest, access: OrgAccess, channel: Channel, status: int = 200, **forms: Any) -> HttpResponse:
    """The routing page; `forms` replaces the blank ones (a refused form shows its errors) or adds the dry run."""
    aliases = _aliases(channel)
    deployments = list(
        Deployment.objects.filter(channel_model__channel=channel)
        .select_related("channel_model")
        .order_by("channel_model__alias", "id")
    )
    versions, version_count = routing_version_summaries(channel=channel, limit=VERSIONS_SHOWN)
    can_manage = access.can(Action.MANAGE_ORG)
    yaml_allowed = routing_yaml_allowed_here()
    context = {
        "channel": channel,
        "aliases": aliases,
        "can_manage": can_manage,
        "yaml_allowed": yaml_allowed,
        "preset": channel_router_preset(channel=channel),
        "presets": ROUTING_PRESETS,
        "policy": router_resolve(channel.router, aliases=aliases)["default"],
        "chains": sorted(channel.router.get("fallbacks", {}).items()),
        "rules": channel.router.get("rules", []),
        "versions": versions,
        "version_count": version_count,
        "health": deployments_health(schema=current_schema(), deployments=deployments),
        "dry_run_forms": dry_run_forms(),
        "dry_run": None,
    }
    if can_manage:
        context["settings_form"] = RoutingSettingsForm.for_channel(channel)
        context["fallback_forms"] = fallback_forms(channel, aliases)
        if yaml_allowed:
            context["yaml_form"] = ChannelYamlForm(initial={"yaml": channel_yaml_export(channel=channel)})
    context.update(forms)
    return render(request, "channels/routing.html", context, status=status)


def _to_page(access: OrgAccess, channel: Channel) -> HttpResponse:
    return redirect("channels:channel_routing", org_slug=access.organization.slug, channel_slug=channel.slug)


@org_page()
def channel_routing_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    return _page(request, access, channel)


@require_POST
@org_page(Action.MANAGE_ORG)
def routing_settings_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    form = RoutingSettingsForm(request.POST)
    fallbacks = fallback_forms(channel, _aliases(channel), request.POST)
    if form.is_valid() and fallbacks.is_valid():
        try:
            channel_router_common_set(
                channel=channel,
                preset=form.cleaned_data["preset"] or None,
                retries=form.cleaned_data["retries"],
                fallbacks={chain["alias"]: chain["chain"] for chain in fallbacks.cleaned_data if chain},
                actor=access.user,
            )
        except InvalidDeployment as exc:
            routing_settings_error(form, fallbacks, exc)
        else:
            messages.success(request, f"Routing settings of {channel.name} saved.")
            return _to_page(access, channel)
    return _page(request, access, channel, status=400, settings_form=form, fallback_forms=fallbacks)


@require_POST
@org_page(Action.MANAGE_ORG)
def routing_yaml_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    """The whole routing document in: the import (all or nothing), its `${NAME}`s read as the export wrote them."""
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    if not routing_yaml_allowed_here():
        raise PermissionDenied("Routing as code needs the Enterprise plan; use the routing settings instead.")
    form = ChannelYamlForm(request.POST)
    if form.is_valid():
        try:
            channel_yaml_import(
                channel=channel, text=form.cleaned_data["yaml"], actor=access.user, exported_references=True
            )
        except HyditeError as exc:
            form.add_error("yaml", f"{exc.param}: {exc.message}" if exc.param else exc.message)
        else:
            messages.success(request, f"Routing of {channel.name} saved.")
            return _to_page(access, channel)
    return _page(request, access, channel, status=400, yaml_form=form)


@org_page()
def routing_version_view(request: HttpRequest, access: OrgAccess, channel_slug: str, number: int) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    version = checked(_version, channel=channel, number=number)
    latest = channel.routing_versions.order_by("-number").values_list("number", flat=True).first()
    context = {
        "channel": channel,
        "version": version,
        "diff": routing_version_diff(version=version).splitlines(),
        "is_latest": version.number == latest,
        "can_manage": access.can(Action.MANAGE_ORG),
    }
    return render(request, "channels/routing_version.html", context)


@require_POST
@org_page(Action.MANAGE_ORG)
def routing_rollback_view(request: HttpRequest, access: OrgAccess, channel_slug: str, number: int) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    version = checked(_version, channel=channel, number=number)
    flashed(
        request,
        lambda: routing_rollback(channel=channel, version=version, actor=access.user),
        f"Rolled the routing of {channel.name} back to v{version.number}.",
    )
    return _to_page(access, channel)


@require_POST
@org_page()
def routing_dry_run_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    """Changes nothing: every member may run it."""
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    samples = dry_run_forms(request.POST)
    if not samples.is_valid():
        return _page(request, access, channel, status=400, dry_run_forms=samples)
    report = checked(routing_dry_run, channel=channel, samples=samples.samples())
    return _page(request, access, channel, dry_run_forms=samples, dry_run=report)
