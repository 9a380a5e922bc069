from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "apps.channels"
    # "channels" is Django Channels' label; model bundles get their own.
    label = "llm_channels"
    verbose_name = "Channels (model bundles)"
