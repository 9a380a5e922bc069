from apps.core.errors import HyditeError


class KeyRevoked(HyditeError):
    status, code = 409, "key_revoked"
    default_message = "This key is revoked and cannot change any more."


class InvalidKey(HyditeError):
    code = "invalid_key"


class InvalidLeaverKeyAction(HyditeError):
    code = "invalid_leaver_key_action"
