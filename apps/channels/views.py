from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.channels.models import Channel, Deployment
from apps.channels.yaml_io import channel_yaml_export, channel_yaml_import
from apps.core.errors import HyditeError, NotFound
from apps.dashboard.edge import checked, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action


class ChannelYamlForm(forms.Form):
    yaml = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}), max_length=256 * 1024)


def _channel(access: OrgAccess, channel_slug: str) -> Channel:
    channel = Channel.objects.filter(organization=access.organization, slug=channel_slug).first()
    if channel is None:
        raise NotFound("Channel not found.")
    return channel


def _page(
    request: HttpRequest, access: OrgAccess, form: ChannelYamlForm | None = None, status: int = 200
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
        "can_manage": access.can(Action.MANAGE_ORG),
    }
    return render(request, "channels/channel_list.html", context, status=status)


@org_page()
def channel_list_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _page(request, access)


@org_page()
def channel_export_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(_channel, access=access, channel_slug=channel_slug)
    response = HttpResponse(channel_yaml_export(channel=channel), content_type="text/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{channel.slug}.yaml"'
    return response


@require_POST
@org_page(Action.MANAGE_ORG)
def channel_import_view(request: HttpRequest, access: OrgAccess, channel_slug: str) -> HttpResponse:
    channel = checked(_channel, access=access, channel_slug=channel_slug)
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
