"""Who may change the gateway layer's defaults: the instance's operators (staff), on the Shared Edge only."""

from apps.accounts.models import User
from apps.core.errors import NotFound, PermissionDenied
from apps.tenancy.models import Instance, InstanceKind


def gateway_defaults_allowed(*, user: User, instance: Instance) -> bool:
    return instance.kind == InstanceKind.SHARED and user.is_staff


def access_gateway_defaults(*, user: User, instance: Instance) -> None:
    if instance.kind != InstanceKind.SHARED:
        raise NotFound("Only the Shared Edge has a gateway layer.")
    if not gateway_defaults_allowed(user=user, instance=instance):
        raise PermissionDenied("Only the instance's operators (staff) may change the gateway defaults.")
