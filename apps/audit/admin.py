from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.core.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_email", "action", "target_type", "target_repr", "ip")
    list_filter = ("action", "target_type")
    search_fields = ("actor_email", "target_repr", "action")
    date_hierarchy = "created_at"
