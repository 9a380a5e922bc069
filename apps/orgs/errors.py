from apps.core.errors import Conflict, HyditeError


class InvalidTeam(HyditeError):
    code = "invalid_team"


class TeamExists(Conflict):
    code = "team_exists"


class LastOrgAdmin(Conflict):
    code = "last_org_admin"
    default_message = "An organisation needs at least one org admin."


class DefaultTeamProtected(Conflict):
    code = "default_team_protected"
    default_message = "The default team cannot be deleted."


class TeamHasKeys(Conflict):
    code = "team_has_keys"
    default_message = "This team has keys (revoked ones too: the ledger keeps their team), so it cannot be deleted."


class InvalidRole(HyditeError):
    code = "invalid_role"


class InvitationInvalid(HyditeError):
    status, code = 404, "invitation_invalid"
    default_message = "This invitation does not exist, has expired or was already used."


class InvitationEmailMismatch(HyditeError):
    status, code = 403, "invitation_email_mismatch"
    default_message = "This invitation was sent to another email address."


class AlreadyMember(Conflict):
    code = "already_member"


class InvitationPending(Conflict):
    code = "invitation_pending"


class SeatsExhausted(Conflict):
    code = "seats_exhausted"
