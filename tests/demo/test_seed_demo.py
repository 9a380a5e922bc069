"""What `make run` seeds for a newcomer: a demo activation code and credit code, and models for a new sign-up."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from apps.accounts.services import user_create
from apps.channels.models import Channel, ChannelModel
from apps.demo.management.commands.seed_demo import DEMO_BACKUP, DEMO_MODELS, DEMO_RESILIENT
from apps.keys.models import VirtualKey
from apps.orgs.models import BillingMode
from apps.orgs.services.organizations import organization_create_personal
from apps.wallet.models import CodeKind, Wallet
from apps.wallet.services.codes import code_redeem

pytestmark = pytest.mark.django_db


def _seed(settings, tmp_path) -> str:  # type: ignore[no-untyped-def]
    settings.HYDITE_STATE_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    connection.set_schema_to_public()
    return out.getvalue()


def test_a_newcomer_redeems_the_seeded_codes_into_a_signed_up_organisation(settings, tmp_path, edge):
    printed = _seed(settings, tmp_path)
    activation = (tmp_path / "demo-activation-code").read_text().strip()
    credit = (tmp_path / "demo-credit-code").read_text().strip()
    assert f"Demo activation code: {activation}" in printed and f"Demo credit code: {credit}" in printed
    assert _seed(settings, tmp_path).count(activation) == 1  # a second run keeps the unused codes

    connection.set_tenant(edge)
    newcomer = user_create(email="newcomer@example.test", password=None, email_verified=True)
    organization = organization_create_personal(owner=newcomer)
    assert organization.billing_mode == BillingMode.PREPAID
    aliases = set(ChannelModel.objects.filter(channel__organization=organization).values_list("alias", flat=True))
    assert aliases == {
        *DEMO_MODELS,
        DEMO_RESILIENT,
        DEMO_BACKUP,
    }  # a new Default Channel starts with the curated models
    copied = Channel.objects.get(organization=organization, is_default=True)
    assert copied.router["fallbacks"] == {DEMO_RESILIENT: [DEMO_BACKUP]}  # and their router
    redeemed = code_redeem(
        kind=CodeKind.ACTIVATION, text=activation, organization=organization, user=newcomer, client_ip=None
    )
    assert redeemed.key_plaintext and VirtualKey.objects.filter(organization=organization, user=newcomer).count() == 1
    code_redeem(kind=CodeKind.CREDIT, text=credit, organization=organization, user=newcomer, client_ip=None)
    assert Wallet.objects.get(organization=organization).balance_micros == 1_050_000  # $0.05 + $1.00

    again = _seed(settings, tmp_path)
    assert activation not in again and credit not in again  # used codes are replaced by fresh ones
