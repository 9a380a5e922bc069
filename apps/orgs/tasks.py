from celery import shared_task
from django_tenants.utils import schema_context

from apps.orgs.services import invitations_purge_expired
from apps.tenancy.selectors import instance_list_active


@shared_task
def invitations_purge_expired_task() -> int:
    """Daily: drop long-expired, unused invitations in every instance (rerun-safe)."""
    purged = 0
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            purged += invitations_purge_expired()
    return purged
