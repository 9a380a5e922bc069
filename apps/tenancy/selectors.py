from django.conf import settings

from apps.core.schemas import current_schema
from apps.tenancy.models import Instance, InstanceKind


def instance_get_by_schema(*, schema_name: str) -> Instance | None:
    return Instance.objects.filter(schema_name=schema_name).first()


def instance_shared_edge() -> Instance | None:
    return instance_get_by_schema(schema_name=settings.SHARED_EDGE_SCHEMA)


def instance_list_active() -> list[Instance]:
    return list(Instance.objects.exclude(schema_name="public").filter(status="active").order_by("schema_name"))


def instance_current_is_shared() -> bool:
    """Whether the connection works in the Shared Edge (read from the schema: schema_context sets no Instance)."""
    instance = instance_get_by_schema(schema_name=current_schema())
    return instance is None or instance.kind == InstanceKind.SHARED
