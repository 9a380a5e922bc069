"""The dashboard's navigation: one list, read by the layout and the URLconf."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    slug: str  # URL segment under /o/<org>/
    title: str
    url_name: str
    section: str
    # What the page will hold, for pages a later release fills in.
    coming: str = ""
    staff_only: bool = False  # operators' pages: not in other users' navigation


PAGES = [
    Page("", "Overview", "dashboard:overview", "Gateway"),
    Page("keys", "API Keys", "keys:key_list", "Gateway"),
    Page("channels", "Channels", "channels:channel_list", "Gateway"),
    Page("activation-codes", "Activation Codes", "wallet:activation_codes", "Billing"),
    Page("credit-codes", "Credit Codes", "wallet:credit_codes", "Billing"),
    Page("plans", "Plans", "billing:plans", "Billing"),
    Page("billing", "Billing", "spend:billing", "Billing"),
    Page("billing/revenue", "Revenue", "spend:revenue", "Billing", staff_only=True),
    Page("billing/prices", "Prices", "providers:prices", "Billing", staff_only=True),
    Page("billing/reconciliation", "Reconciliation", "spend:reconciliation", "Billing", staff_only=True),
    Page(
        "anomaly",
        "Anomaly",
        "dashboard:anomaly",
        "Operations",
        "Flagged spend spikes, multi-IP key use and error-rate spikes; paused keys, one click to resume.",
    ),
    Page("health", "System Health", "dashboard:health", "Operations"),
    Page("workspaces", "Workspaces", "dashboard:workspaces", "Organisation"),
    Page("teams", "Teams", "orgs:team_list", "Organisation"),
    Page(
        "settings/sso",
        "SSO",
        "dashboard:settings_sso",
        "Settings",
        "SAML 2.0, OIDC and SCIM provisioning for your identity provider.",
    ),
    Page("settings/quotas", "Quotas", "quotas:settings", "Settings"),
    Page("settings/access", "Access", "orgs:settings_access", "Settings"),
    Page("settings/notifications", "Notifications", "dashboard:settings_notifications", "Settings"),
    Page("audit", "Audit log", "audit:event_list", "Settings"),
]

PAGES_BY_URL_NAME = {page.url_name: page for page in PAGES}
