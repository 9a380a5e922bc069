"""Which instance each host name serves, as the gateway reads it: one Redis hash, rebuilt from the database.

The hash expires after a minute, so a domain an operator changes anywhere (admin included) reaches every
gateway process within about a minute; the services that add domains publish it at once.
"""

from django.db import transaction

from apps.core.redis import global_key, redis_client
from apps.tenancy.models import Domain

HOSTS_TTL_S = 60


def instance_hosts_key() -> str:
    return global_key("tenancy", "hosts")


def instance_hosts_build() -> dict[str, str]:
    """host → schema of every domain (lowercase, as stored)."""
    return dict(Domain.objects.values_list("domain", "tenant__schema_name"))


def instance_hosts_publish() -> dict[str, str]:
    """Replace the hash with the database's domains; returns them."""
    hosts = instance_hosts_build()
    name = instance_hosts_key()
    pipe = redis_client().pipeline(transaction=True)
    pipe.delete(name)
    for host, schema in hosts.items():
        pipe.hset(name, host, schema)
    pipe.expire(name, HOSTS_TTL_S)
    pipe.execute()
    return hosts


def instance_hosts_publish_on_commit() -> None:
    transaction.on_commit(instance_hosts_publish)
