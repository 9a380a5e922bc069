from apps.core.errors import Conflict, HyditeError


class InvalidInstance(HyditeError):
    code = "invalid_instance"


class InstanceExists(Conflict):
    code = "instance_exists"
