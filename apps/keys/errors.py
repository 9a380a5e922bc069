from apps.core.errors import HyditeError, PermissionDenied


class KeyRevoked(HyditeError):
    status, code = 409, "key_revoked"
    default_message = "This key is revoked and cannot change any more."


class InvalidKey(HyditeError):
    code = "invalid_key"


class InvalidLeaverKeyAction(HyditeError):
    code = "invalid_leaver_key_action"


class KeyOwnerMayNotUseKeys(PermissionDenied):
    code = "key_owner_may_not_use_keys"
    default_message = "That person may not use keys in this team (not a member, or a viewer there)."
