from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for a developer checkout (`manage.py seed_demo`): no models, it writes through the tenant
    apps' services, which is why it is not part of apps.tenancy (a shared app reaches into no tenant app)."""

    name = "apps.demo"
