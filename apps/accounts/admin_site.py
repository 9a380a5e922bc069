"""The Django admin site, whose login page says when a throttled log-in may try again.

INSTALLED_APPS names apps.accounts.admin_config.HyditeAdminConfig instead of django.contrib.admin.
"""

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from apps.accounts.errors import LoginThrottled


class AdminLoginForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except LoginThrottled as exc:  # the password was not checked
            raise ValidationError(exc.message, code=exc.code) from exc


class HyditeAdminSite(AdminSite):
    login_form = AdminLoginForm
