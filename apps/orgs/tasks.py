from celery import shared_task

from apps.orgs.services.invitations import invitations_purge_expired
from apps.tenancy.services import instances_each


@shared_task
def invitations_purge_expired_task() -> int:
    """Daily: drop long-expired, unused invitations in every instance (rerun-safe)."""
    return instances_each(invitations_purge_expired)
