from django.contrib.admin.apps import AdminConfig


class HyditeAdminConfig(AdminConfig):
    """django.contrib.admin with our site: Django's way to swap the default site (no model imports here)."""

    default_site = "apps.accounts.admin_site.HyditeAdminSite"
