from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.orgs.roles import Role
from apps.quotas.models import QuotaFields

ORGANIZATION_NAME_MAX_LENGTH = 120


class BillingMode(models.TextChoices):
    """How an organisation pays: from its wallet as it goes, or by a monthly invoice from the spend ledger."""

    PREPAID = "prepaid", "Pay-as-you-go (wallet)"
    INVOICE = "invoice", "Invoiced monthly (sales-issued)"


class LeaverKeyAction(models.TextChoices):
    """What happens to the keys of someone who may no longer use them: removed from the organisation or
    the key's team, left with the viewer role there, or deactivated."""

    PAUSE = "pause", "Pause them (an admin can resume them if the person comes back)"
    REVOKE = "revoke", "Revoke them"
    KEEP = "keep", "Keep them working as the team's (service-account keys with no owner)"


class Organization(QuotaFields):
    name = models.CharField(max_length=ORGANIZATION_NAME_MAX_LENGTH)
    slug = models.SlugField(max_length=60, unique=True)
    is_personal = models.BooleanField(default=False)
    # Prepaid organisations are stopped at a zero balance; invoiced ones are billed afterwards.
    billing_mode = models.CharField(
        max_length=16, choices=BillingMode.choices, default=BillingMode.PREPAID, db_default=BillingMode.PREPAID
    )
    invoiced_since = models.DateTimeField(null=True, blank=True)  # monthly invoices cover usage from here on
    leaver_key_action = models.CharField(
        max_length=16, choices=LeaverKeyAction.choices, default=LeaverKeyAction.PAUSE, db_default=LeaverKeyAction.PAUSE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Team(QuotaFields):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="team_slug_unique_in_org"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="team_one_default_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in an organisation (team is null) or in one of its teams.

    The organisation row is the floor: a user's role in a team is the higher of
    their organisation role and their team role.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], condition=Q(team__isnull=True), name="membership_one_org_row"
            ),
            models.UniqueConstraint(
                fields=["user", "team"], condition=Q(team__isnull=False), name="membership_one_team_row"
            ),
        ]
        indexes = [models.Index(fields=["organization", "team"])]

    def __str__(self) -> str:
        scope = self.team or self.organization
        return f"{self.user} · {scope} · {self.role}"


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.email} → {self.team or self.organization}"
