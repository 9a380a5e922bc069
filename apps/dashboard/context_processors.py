from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from apps.dashboard.edge import current_org_access
from apps.dashboard.pages import PAGES
from apps.orgs.selectors import organization_list_for_user


def navigation(request: HttpRequest) -> dict[str, Any]:
    access = current_org_access(request)
    if access is None:
        return {}
    slug = access.organization.slug
    current = request.resolver_match.view_name if request.resolver_match else ""
    sections: dict[str, list[dict[str, Any]]] = {}
    for page in PAGES:
        if page.staff_only and not access.user.is_staff:
            continue
        sections.setdefault(page.section, []).append(
            {
                "title": page.title,
                "url": reverse(page.url_name, kwargs={"org_slug": slug}),
                "active": current == page.url_name
                or (page.url_name == "orgs:team_list" and current.startswith("orgs:team"))
                or (page.url_name == "keys:key_list" and current.startswith("keys:"))
                or (page.url_name == "channels:channel_list" and current.startswith("channels:"))
                or (page.url_name == "quotas:settings" and current.startswith("quotas:")),
            }
        )
    return {
        "nav_sections": sections,
        "org_access": access,
        "user_organizations": organization_list_for_user(user=request.user),  # type: ignore[arg-type]
    }
