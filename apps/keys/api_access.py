"""Which organisation a management API call acts on, for every API that takes management keys."""

from rest_framework.request import Request

from apps.core.api import InvalidApiParameter
from apps.core.errors import NotFound
from apps.keys.models import ManagementKey
from apps.orgs.access import OrgAccess, access_organization_by_slug
from apps.orgs.models import Organization
from apps.orgs.roles import Action, Role
from apps.orgs.selectors import organization_list_for_user


def api_org_access(request: Request, slug: str | None, action: Action = Action.VIEW) -> OrgAccess:
    """The organisation a call acts on: a management key's own, or one the session user belongs to.

    An organisation's management key acts with its creator's role there now, read on every request.
    """
    auth = request.auth
    if isinstance(auth, ManagementKey):
        organization = auth.organization
        if organization is None:  # instance-wide key: its creator is staff (checked at authentication)
            organization = Organization.objects.filter(slug=slug or "").first()
            if organization is None:
                raise InvalidApiParameter("An instance-wide key must name the organization.", param="organization")
            return OrgAccess(user=auth.created_by, organization=organization, role=Role.ORG_ADMIN)
        if slug and slug != organization.slug:
            raise NotFound("Organisation not found.")
        return access_organization_by_slug(user=auth.created_by, slug=organization.slug, action=action)
    user = request.user
    slug = slug or next((org.slug for org in organization_list_for_user(user=user)), "")
    return access_organization_by_slug(user=user, slug=slug, action=action)
