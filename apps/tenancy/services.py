import re
from collections.abc import Callable, Sequence

from django.db import IntegrityError, transaction
from django_tenants.utils import schema_context

from apps.tenancy.errors import InstanceExists, InvalidInstance
from apps.tenancy.hosts import instance_hosts_publish_on_commit
from apps.tenancy.models import Domain, Instance, InstanceKind, InstanceTier
from apps.tenancy.selectors import instance_list_active

_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_RESERVED_SCHEMAS = {"public", "information_schema"}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _clean_domains(domains: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in domains:
        domain = raw.strip().lower()
        if not _HOSTNAME.match(domain):
            raise InvalidInstance(f"{raw!r} is not a host name.", param="domains")
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned


def instance_create(
    *,
    name: str,
    schema_name: str,
    kind: str,
    tier: str = InstanceTier.FREE,
    domains: Sequence[str],
) -> Instance:
    """Create an instance, its schema (migrated) and its domains; the first domain is primary."""
    if not _SCHEMA_NAME.match(schema_name) or schema_name in _RESERVED_SCHEMAS or schema_name.startswith("pg_"):
        raise InvalidInstance(
            "Schema names are 2-63 lowercase letters, digits or underscores, starting with a letter.",
            param="schema_name",
        )
    if kind not in InstanceKind.values:
        raise InvalidInstance(f"Unknown instance kind {kind!r}.", param="kind")
    if tier not in InstanceTier.values:
        raise InvalidInstance(f"Unknown tier {tier!r}.", param="tier")
    domains = _clean_domains(domains)
    if not domains:
        raise InvalidInstance("An instance needs at least one domain.", param="domains")
    if Instance.objects.filter(schema_name=schema_name).exists():
        raise InstanceExists(f"An instance with schema {schema_name!r} exists already.", param="schema_name")
    taken = list(Domain.objects.filter(domain__in=domains).values_list("domain", flat=True))
    if taken:
        raise InstanceExists(f"Domain already in use: {', '.join(taken)}.", param="domains")

    # Schema creation runs the tenant migrations; it cannot share a transaction
    # with the rows below, so a failed schema leaves no Instance row behind.
    instance = Instance(name=name, schema_name=schema_name, kind=kind, tier=tier)
    instance.save(verbosity=0)
    try:
        with transaction.atomic():
            for position, domain in enumerate(domains):
                Domain.objects.create(domain=domain, tenant=instance, is_primary=position == 0)
    except IntegrityError as exc:  # a concurrent create took a domain: undo the whole instance
        instance.delete(force_drop=True)
        raise InstanceExists("A domain was taken while the instance was being created.", param="domains") from exc
    instance_hosts_publish_on_commit()
    return instance


def instance_domain_ensure(*, instance: Instance, domain: str) -> Domain:
    """Attach a domain to an instance (idempotent)."""
    (domain,) = _clean_domains([domain])
    existing = Domain.objects.filter(domain=domain).first()
    if existing is not None:
        if existing.tenant_id != instance.pk:
            raise InstanceExists(f"Domain {domain!r} belongs to another instance.", param="domain")
        return existing
    has_primary = Domain.objects.filter(tenant=instance, is_primary=True).exists()
    created = Domain.objects.create(domain=domain, tenant=instance, is_primary=not has_primary)
    instance_hosts_publish_on_commit()
    return created


def instances_each(service: Callable[[], int]) -> int:
    """Run a rerun-safe service in every active instance's schema (periodic tasks); the sum of what it returns."""
    total = 0
    for instance in instance_list_active():
        with schema_context(instance.schema_name):
            total += service()
    return total
