from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.channels import services
from apps.channels.forms import ChannelCreateForm, ChannelYamlForm, DeploymentForm
from apps.channels.models import Channel, Deployment
from apps.channels.selectors import access_channel_by_slug
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.core.errors import HyditeError, NotFound
from apps.dashboard.edge import checked, form_error, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action


def _deployment(channel: Channel, deployment_id: int) -> Deployment:
    deployment = (
        Deployment.objects.select_related("channel_model__channel", "credential")
        .filter(channel_model__channel=channel, pk=deployment_id)
        .first()
    )
    if deployment is None:
        raise NotFound("Deployment not found.")
    return deployment


def _page(
    request: HttpRequest,
    access: OrgAccess,
    form: ChannelYamlForm | None = None,
    status: int = 200,
    *,
    create_form: ChannelCreateForm | None = None,
    deployment_form: DeploymentForm | None = None,
    deployment_channel: Channel | None = None,
) -> HttpResponse:
    channels = list(Channel.objects.filter(organization=access.organization).order_by("-is_default", "name"))
    deployments = (
        Deployment.objects.filter(channel_model__channel__in=channels)
        .select_related("channel_model", "credential")
        .order_by("channel_model__alias", "id")
    )
    by_channel: dict[int, list[Deployment]] = {}
    for deployment in deployments:
        by_channel.setdefault(deployment.channel_model.channel_id, []).append(deployment)
    context = {
        "channels": [(channel, by_channel.get(channel.pk, [])) for channel in channels],
        "form": form or ChannelYamlForm(),
        "create_form": create_form or ChannelCreateForm(),
        "deployment_form": deployment_form,
        "blank_deployment_form": DeploymentForm(),
        "deployment_channel": deployment_channel,
        "can_manage": access.can(Action.MANAGE_ORG),
    }
    return render(request, "channels/channel_list.html", context, status=status)


@org_page()
def channel_list_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _page(request, access)


@org_page()
def channel_export_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    response = HttpResponse(channel_yaml_export(channel=channel), content_type="text/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{channel.slug}.yaml"'
    return response


@require_POST
@org_page(Action.MANAGE_ORG)
def channel_import_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    form = ChannelYamlForm(request.POST)
    if form.is_valid():
        try:
            models = channel_yaml_import(channel=channel, text=form.cleaned_data["yaml"], actor=access.user)
        except HyditeError as exc:
            form.add_error("yaml", f"{exc.param}: {exc.message}" if exc.param else exc.message)
        else:
            messages.success(request, f"Imported {len(models)} model(s) into {channel.name}.")
            return redirect("channels:channel_list", org_slug=access.organization.slug)
    return _page(request, access, form=form, status=400)


@require_POST
@org_page(Action.MANAGE_ORG)
def channel_create_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = ChannelCreateForm(request.POST)
    if form.is_valid():
        try:
            channel = services.channel_create(
                organization=access.organization, name=form.cleaned_data["name"], actor=access.user
            )
        except HyditeError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Channel {channel.name} created.")
            return redirect("channels:channel_list", org_slug=access.organization.slug)
    return _page(request, access, create_form=form, status=400)


def _saved(
    request: HttpRequest, access: OrgAccess, form: DeploymentForm, save: Callable[[], object], done: str
) -> HttpResponse | None:
    """Run a deployment service; a redirect when it worked, None (errors on the form) when it refused."""
    try:
        save()
    except HyditeError as exc:
        form_error(form, exc)
        return None
    messages.success(request, done)
    return redirect("channels:channel_list", org_slug=access.organization.slug)


@require_POST
@org_page(Action.MANAGE_ORG)
def deployment_add_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    form = DeploymentForm(request.POST)
    if form.is_valid():
        alias = form.cleaned_data["alias"]
        saved = _saved(
            request,
            access,
            form,
            lambda: services.deployment_add(
                channel=channel, alias=alias, spec=form.spec(), api_key=form.cleaned_data["api_key"], actor=access.user
            ),
            f"Added a deployment of {alias} to {channel.name}.",
        )
        if saved is not None:
            return saved
    return _page(request, access, deployment_form=form, deployment_channel=channel, status=400)


@org_page(Action.MANAGE_ORG)
def deployment_edit_view(
    request: HttpRequest, access: OrgAccess, channel_slug: str, deployment_id: int
) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    deployment = checked(_deployment, channel=channel, deployment_id=deployment_id)
    form = DeploymentForm(request.POST if request.method == "POST" else None, deployment=deployment)
    if request.method == "POST" and form.is_valid():
        saved = _saved(
            request,
            access,
            form,
            lambda: services.deployment_replace(
                deployment=deployment, spec=form.spec(), api_key=form.cleaned_data["api_key"], actor=access.user
            ),
            f"Deployment of {deployment.channel_model.alias} saved.",
        )
        if saved is not None:
            return saved
    context = {"channel": channel, "deployment": deployment, "form": form}
    return render(request, "channels/deployment_edit.html", context, status=400 if request.method == "POST" else 200)


@require_POST
@org_page(Action.MANAGE_ORG)
def deployment_remove_view(
    request: HttpRequest, access: OrgAccess, channel_slug: str, deployment_id: int
) -> HttpResponse:
    channel = checked(access_channel_by_slug, access=access, channel_slug=channel_slug)
    deployment = checked(_deployment, channel=channel, deployment_id=deployment_id)
    services.deployment_remove(deployment=deployment, actor=access.user)
    messages.success(request, f"Removed a deployment of {deployment.channel_model.alias}.")
    return redirect("channels:channel_list", org_slug=access.organization.slug)
