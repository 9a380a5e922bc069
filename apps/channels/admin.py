from django.contrib import admin

from apps.channels.models import Channel, ChannelModel, Deployment


class ChannelModelInline(admin.TabularInline):
    model = ChannelModel
    extra = 0


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "slug", "is_default")
    inlines = [ChannelModelInline]


class DeploymentInline(admin.TabularInline):
    model = Deployment
    extra = 0


@admin.register(ChannelModel)
class ChannelModelAdmin(admin.ModelAdmin):
    list_display = ("alias", "channel")
    inlines = [DeploymentInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("channel_model", "provider", "upstream_model", "api_base", "weight", "is_active")
