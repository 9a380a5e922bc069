"""Demo data for a developer checkout; safe to run any number of times."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.accounts.services import superuser_ensure, user_create, user_email_mark_verified
from apps.channels.models import Channel, Deployment
from apps.channels.router_services import channel_router_set
from apps.channels.services import DeploymentSpec, channel_curated_set, channel_default_ensure, channel_model_set
from apps.keys.models import KeyStatus, ManagementKey, VirtualKey
from apps.keys.services import key_generate, key_hash, management_key_create
from apps.keys.snapshots import key_snapshot_publish
from apps.orgs.models import BillingMode, Membership, Organization, Team
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create, team_create
from apps.providers.models import ProviderType
from apps.tenancy.models import InstanceKind, InstanceTier
from apps.tenancy.selectors import instance_shared_edge
from apps.tenancy.services import instance_create, instance_domain_ensure
from apps.wallet.codes import code_hash, code_normalise
from apps.wallet.models import Code, CodeKind
from apps.wallet.services.codes import code_batch_mint

EDGE_DOMAINS = ["localhost", "127.0.0.1"]
DEMO_ORG_SLUG = "hydite-demo"
DEMO_MODELS = {  # alias → model of the mock provider
    "gpt-4o-mini": "mock-gpt-4o-mini",
    "gpt-4o": "mock-gpt-4o",
    "text-embedding-3-small": "mock-embedding-small",
}
# An alias that survives its provider's outage: served by the mock's "primary" (OpenAI's wire format), falling
# back to an alias on its "backup" (Anthropic's). Try it: python manage.py routing_drill --channel default-channel
# --alias demo-resilient --organization hydite-demo
DEMO_RESILIENT = "demo-resilient"
DEMO_BACKUP = "demo-backup-claude"
DEMO_ROUTER = {"retries": 0, "fallbacks": {DEMO_RESILIENT: [DEMO_BACKUP]}}  # no retry: straight to the backup
# A newcomer's first code of each kind (single use: a used one is replaced on the next run).
DEMO_CODES = {CodeKind.ACTIVATION: 50_000, CodeKind.CREDIT: 1_000_000}  # $0.05 with the first key, a $1 top-up
DEMO_MEMBERS = [
    # email, team, role
    ("lead@demo.hydite.localhost", "Platform", Role.TEAM_LEAD),
    ("dev@demo.hydite.localhost", "Platform", Role.DEVELOPER),
    ("dev@demo.hydite.localhost", "Research", Role.DEVELOPER),
    ("viewer@demo.hydite.localhost", "Research", Role.VIEWER),
]


class Command(BaseCommand):
    help = "Create the Shared Edge instance, a staff superuser and a demo organisation (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        edge = instance_shared_edge()
        if edge is None:
            edge = instance_create(
                name="Shared Edge",
                schema_name=settings.SHARED_EDGE_SCHEMA,
                kind=InstanceKind.SHARED,
                tier=InstanceTier.FREE,
                domains=EDGE_DOMAINS,
            )
            self.stdout.write("Created the Shared Edge instance (schema edge).")
        for domain in EDGE_DOMAINS:
            instance_domain_ensure(instance=edge, domain=domain)

        admin, generated = superuser_ensure(email=settings.HYDITE_ADMIN_EMAIL, password=settings.HYDITE_ADMIN_PASSWORD)
        if generated:
            self._remember_admin_password(generated)
            self.stdout.write(f"Created staff superuser {admin.email} with password {generated} (shown only now)")

        with schema_context(edge.schema_name):
            organization = self._seed_demo_organization(admin)
            self._seed_demo_channel(organization, admin)
            self._seed_demo_key(organization, admin)
            self._seed_demo_management_key(organization, admin)
            for kind, credit in DEMO_CODES.items():
                self._seed_demo_code(kind, credit, admin)
        self.stdout.write("Demo data is in place.")

    def _remember_admin_password(self, password: str) -> None:
        state_dir = settings.HYDITE_STATE_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / "admin-password.once"  # the make run banner prints it once and deletes it
        path.write_text(password + "\n")
        path.chmod(0o600)

    @transaction.atomic
    def _seed_demo_organization(self, admin: User) -> Organization:
        organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
        if organization is None:
            organization = organization_create(name="Hydite Demo", owner=admin, billing_mode=BillingMode.INVOICE)
        teams = {team.name: team for team in Team.objects.filter(organization=organization)}
        for name in ("Platform", "Research"):
            if name not in teams:
                teams[name] = team_create(organization=organization, name=name, actor=admin)
        for email, team_name, role in DEMO_MEMBERS:
            user = User.objects.filter(email=email).first() or user_create(email=email, password=None)
            user_email_mark_verified(user=user)  # seeded: the operator vouches (and databases seeded before)
            team = teams[team_name]
            if not Membership.objects.filter(user=user, team=team).exists():
                member_add(organization=organization, team=team, user=user, role=role, actor=admin)
        return organization

    def _seed_demo_channel(self, organization: Organization, admin: User) -> None:
        """The Default Channel's models go to the built-in mock provider, so the demo needs no provider account."""
        channel = channel_default_ensure(organization=organization, actor=admin)
        base = settings.HYDITE_MOCK_PROVIDER_URL
        for alias, upstream in DEMO_MODELS.items():
            current = list(
                Deployment.objects.filter(channel_model__channel=channel, channel_model__alias=alias).values_list(
                    "upstream_model", "api_base"
                )
            )
            if current != [(upstream, base)]:
                spec = DeploymentSpec(provider=ProviderType.OPENAI_COMPATIBLE, upstream_model=upstream, api_base=base)
                channel_model_set(channel=channel, alias=alias, deployments=[spec], actor=admin, platform_managed=True)
        self._seed_demo_fallback(channel, admin)
        channel_curated_set(channel=channel, actor=admin)  # new organisations (sign-ups) start with these models

    def _seed_demo_fallback(self, channel: Channel, admin: User) -> None:
        root = settings.HYDITE_MOCK_PROVIDER_URL.removesuffix("/").removesuffix("/v1")
        wanted = {
            DEMO_RESILIENT: DeploymentSpec(
                ProviderType.OPENAI_COMPATIBLE, "mock-gpt-4o-mini", f"{root}/mock/primary/v1"
            ),
            DEMO_BACKUP: DeploymentSpec(ProviderType.ANTHROPIC, "claude-sonnet-4-5", f"{root}/mock/backup"),
        }
        for alias, spec in wanted.items():
            current = list(
                Deployment.objects.filter(channel_model__channel=channel, channel_model__alias=alias).values_list(
                    "provider", "upstream_model", "api_base"
                )
            )
            if current != [(spec.provider, spec.upstream_model, spec.api_base)]:
                channel_model_set(channel=channel, alias=alias, deployments=[spec], actor=admin, platform_managed=True)
        if channel.router != DEMO_ROUTER:
            channel_router_set(channel=channel, router=DEMO_ROUTER, actor=admin, gated=False)  # the operator

    def _seed_demo_key(self, organization: Organization, admin: User) -> None:
        """One demo key whose clear text lives only in .hydite/demo-key, so every make run prints the same key."""
        path = settings.HYDITE_STATE_DIR / "demo-key"
        plaintext = path.read_text().strip() if path.exists() else ""
        if plaintext and VirtualKey.objects.filter(key_hash=key_hash(plaintext), status=KeyStatus.ACTIVE).exists():
            key_snapshot_publish(key_hash=key_hash(plaintext))
            return
        team = Team.objects.get(organization=organization, is_default=True)
        _, plaintext = key_generate(organization=organization, team=team, user=admin, name="Demo key", actor=admin)
        settings.HYDITE_STATE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(plaintext + "\n")
        path.chmod(0o600)
        self.stdout.write("Created the demo key (its clear text is in .hydite/demo-key).")

    def _seed_demo_management_key(self, organization: Organization, admin: User) -> None:
        """A management API key for the demo organisation, kept in clear only in .hydite/demo-admin-key."""
        path = settings.HYDITE_STATE_DIR / "demo-admin-key"
        plaintext = path.read_text().strip() if path.exists() else ""
        if plaintext and ManagementKey.objects.filter(key_hash=key_hash(plaintext), revoked_at__isnull=True).exists():
            return
        _, plaintext = management_key_create(organization=organization, name="Demo management key", actor=admin)
        path.write_text(plaintext + "\n")
        path.chmod(0o600)

    def _seed_demo_code(self, kind: str, credit_micros: int, admin: User) -> None:
        """A redeemable demo code, in clear only in .hydite/demo-<kind>-code (printed here and by make run)."""
        path = settings.HYDITE_STATE_DIR / f"demo-{kind}-code"
        text = path.read_text().strip() if path.exists() else ""
        normalised = code_normalise(text)
        code = (
            Code.objects.filter(code_hash=code_hash(normalised)).select_related("batch").first() if normalised else None
        )
        if code is None or code.state() != "available":
            minted = code_batch_mint(
                kind=kind, count=1, credit_micros=credit_micros, actor=admin, campaign="demo", distributor="demo seed"
            )
            text = minted.codes[0]
            path.write_text(text + "\n")
            path.chmod(0o600)
        self.stdout.write(f"Demo {kind} code: {text}")
