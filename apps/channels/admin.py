from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from apps.channels.models import Channel, ChannelModel, Deployment, RoutingVersion
from apps.channels.services import DeploymentSpec, InvalidDeployment, alias_check, deployment_spec_check
from apps.core.admin import ReadOnlyAdmin


class ChannelModelAdminForm(forms.ModelForm):
    """The alias checked as the Channels page checks it."""

    class Meta:
        model = ChannelModel
        fields = ["channel", "alias"]

    def clean_alias(self) -> str:
        try:
            return alias_check(self.cleaned_data["alias"])
        except InvalidDeployment as exc:
            raise ValidationError(exc.message) from exc


class DeploymentAdminForm(forms.ModelForm):
    """A deployment checked as the Channels page checks it (bounds, characters, a safe api_base)."""

    api_base = forms.CharField(max_length=500)  # checked by deployment_spec_check, not URLField's rules

    class Meta:
        model = Deployment
        fields = [
            "channel_model",
            "provider",
            "upstream_model",
            "api_base",
            "api_version",
            "credential",
            "weight",
            "tags",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        spec = DeploymentSpec(
            provider=data["provider"],
            upstream_model=data["upstream_model"],
            api_base=data["api_base"],
            api_version=data.get("api_version") or "",
            weight=data["weight"],
            tags=data.get("tags") or [],
        )
        try:
            checked = deployment_spec_check(spec)
        except InvalidDeployment as exc:
            raise ValidationError({exc.param: exc.message} if exc.param in self.fields else exc.message) from exc
        data.update(upstream_model=checked.upstream_model, api_base=checked.api_base, tags=checked.tags)
        return data


class ChannelModelInline(admin.TabularInline):
    model = ChannelModel
    form = ChannelModelAdminForm
    extra = 0


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "slug", "is_default")
    readonly_fields = ("router",)  # checked and versioned only through the routing YAML and its services
    inlines = [ChannelModelInline]


class DeploymentInline(admin.TabularInline):
    model = Deployment
    form = DeploymentAdminForm
    extra = 0


@admin.register(ChannelModel)
class ChannelModelAdmin(admin.ModelAdmin):
    form = ChannelModelAdminForm
    list_display = ("alias", "channel")
    inlines = [DeploymentInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    form = DeploymentAdminForm
    list_display = ("channel_model", "provider", "upstream_model", "api_base", "weight", "is_active")


@admin.register(RoutingVersion)
class RoutingVersionAdmin(ReadOnlyAdmin):
    """The history is written by the routing services only; a rollback is one of them."""

    list_display = ("channel", "number", "summary", "author", "created_at")
    list_select_related = ("channel", "author")
