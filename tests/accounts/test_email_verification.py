"""Issue 15, point 5: an address is confirmed before its account can do anything, or be attached to anything.

The attack: sign up as someone else's address, never confirm it, and wait for staff (or an org admin) to
give that address an organisation.
"""

import io
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import call_command

from apps.accounts.errors import EmailNotVerified
from apps.accounts.models import User
from apps.accounts.selectors import user_by_verified_email, user_email_verified
from apps.orgs.models import Invitation, Membership, Organization
from apps.orgs.roles import Role
from apps.orgs.services.invitations import invitation_accept, invitation_create
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create
from tests.conftest import ACME_HOST, PASSWORD, client_for

CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)")
INVITATION_LINK = re.compile(r"https?://[^/\s]+(/invitations/[^\s]+/)")


def sign_up_form(client, email: str):  # type: ignore[no-untyped-def]
    return client.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})


def confirmation_link(pattern: re.Pattern[str], to: str) -> str:
    """The path of the newest link of this kind mailed to `to`."""
    bodies = [message.body for message in mail.outbox if message.to == [to]]
    paths = [match.group(1) for body in bodies for match in pattern.finditer(body)]
    assert paths, f"no link mailed to {to}: {[message.subject for message in mail.outbox]}"
    return paths[-1]


@pytest.fixture
def invite(make_user, mailoutbox, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """invite(email, role, host) → (organisation, path of the invitation link mailed to `email`)."""

    def send(email: str, role: str = Role.DEVELOPER, host: str = ACME_HOST) -> tuple[Organization, str]:
        owner = make_user()
        organization = organization_create(name=f"Inviting {email}", owner=owner)
        with django_capture_on_commit_callbacks(execute=True):
            invitation_create(
                organization=organization,
                team=None,
                email=email,
                role=role,
                actor=owner,
                accept_url_base=f"http://{host}/invitations",
            )
        return organization, confirmation_link(INVITATION_LINK, email.lower())

    return send


@pytest.fixture(autouse=True)
def _no_mail_cooldown(settings):  # type: ignore[no-untyped-def]
    """allauth mails an address at most once in 3 minutes (the first link stays valid): tests read each mail."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "confirm_email": None}


def test_a_sign_up_gets_nothing_until_the_link_is_opened(edge, mailoutbox):
    client = client_for(None)
    answer = sign_up_form(client, "Founder@Example.test")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email__iexact="founder@example.test")
    assert not user_email_verified(user=user)
    assert not Membership.objects.filter(user=user).exists()  # no personal organisation yet
    assert client.get("/")["Location"].startswith("/accounts/login/")  # not logged in

    link = confirmation_link(CONFIRM_LINK, "founder@example.test")
    assert client.post(link).status_code == 302  # the confirmation page's button
    assert user_email_verified(user=user)
    organization = Organization.objects.get(memberships__user=user, memberships__team=None)
    assert organization.is_personal
    home = client.get("/")  # logged in by the confirmation, in the browser that signed up
    assert home.status_code == 302 and home["Location"] == f"/o/{organization.slug}/"
    assert client.post(link).status_code in (302, 404)  # a second confirmation creates nothing more
    assert Organization.objects.filter(memberships__user=user).distinct().count() == 1


@pytest.mark.parametrize("address_row", [True, False], ids=["signed-up", "made-by-user_create-before"])
def test_an_unconfirmed_account_cannot_log_in_and_gets_a_link(edge, make_user, mailoutbox, address_row):
    """E.g. an account from before confirmation was mandatory: it confirms at its next log-in."""
    legacy = make_user("later@example.test", email_verified=False)
    if not address_row:  # invoiced admins and demo users had no allauth address row
        EmailAddress.objects.filter(user=legacy).delete()
    client = client_for(None)
    answer = client.post("/accounts/login/", {"login": "later@example.test", "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == "/accounts/confirm-email/"
    assert client.get("/")["Location"].startswith("/accounts/login/")
    client.post(confirmation_link(CONFIRM_LINK, "later@example.test"))
    assert user_email_verified(user=legacy)
    assert client.get("/")["Location"].startswith("/o/")  # logged in, with a personal organisation


def test_a_squatter_does_not_become_admin_of_the_invoiced_organisation(
    staff, mailoutbox, django_capture_on_commit_callbacks
):
    """The audit's attack: the squatter signs up first, staff create the organisation for that address."""
    squatter = client_for(None)
    sign_up_form(squatter, "owner@victim-company.test")
    home = organization_create(name="Operators", owner=staff)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(staff).post(
            f"/o/{home.slug}/workspaces/invoiced/", {"name": "Victim Co", "admin_email": "OWNER@Victim-Company.test"}
        )
    assert answer.status_code == 302
    victim_co = Organization.objects.get(name="Victim Co")
    assert not Membership.objects.filter(organization=victim_co).exists()
    invitation = Invitation.objects.get(organization=victim_co)
    assert (invitation.email, invitation.role, invitation.team) == ("owner@victim-company.test", Role.ORG_ADMIN, None)

    # The real owner: signing up again mails them (the page says what a new sign-up's page says), a password
    # reset takes the account back, the log-in mails a confirmation link, and the invitation is theirs.
    owner = client_for(None)
    invitation_link = confirmation_link(INVITATION_LINK, "owner@victim-company.test")
    assert owner.get(invitation_link).status_code == 200
    assert sign_up_form(owner, "owner@victim-company.test")["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email__iexact="owner@victim-company.test").count() == 1
    owner.post("/accounts/password/reset/", {"email": "owner@victim-company.test"})
    reset = next(w for w in mail.outbox[-1].body.split() if "/accounts/password/reset/key/" in w)
    form = owner.get(reset.split("testserver", 1)[1], follow=True).redirect_chain[-1][0]
    owner.post(form, {"password1": "the-owners-own-passphrase", "password2": "the-owners-own-passphrase"})
    answer = owner.post(
        "/accounts/login/", {"login": "owner@victim-company.test", "password": "the-owners-own-passphrase"}
    )
    assert answer["Location"] == "/accounts/confirm-email/"
    assert not Membership.objects.filter(organization=victim_co).exists()
    owner.post(confirmation_link(CONFIRM_LINK, "owner@victim-company.test"))
    assert owner.post(invitation_link).status_code == 302
    real = User.objects.get(email__iexact="owner@victim-company.test")
    assert Membership.objects.get(organization=victim_co, team=None).user == real
    assert not squatter.login(email="owner@victim-company.test", password=PASSWORD)


def test_an_invited_newcomer_signs_up_confirmed_and_accepts(acme, invite):
    organization, link = invite("Newcomer@Example.test")
    client = client_for(None, host=ACME_HOST)
    assert client.get(link).status_code == 200
    answer = sign_up_form(client, "newcomer@example.test")
    assert answer.status_code == 302 and answer["Location"] != "/accounts/confirm-email/"  # the link proved it
    newcomer = User.objects.get(email="newcomer@example.test")
    assert user_email_verified(user=newcomer)
    assert client.post(link).status_code == 302
    assert Membership.objects.get(organization=organization, user=newcomer, team=None).role == Role.DEVELOPER


def test_a_sign_up_holding_an_invitation_proves_the_invited_address_only(acme, invite):
    _, link = invite("invited@example.test")
    client = client_for(None, host=ACME_HOST)
    client.get(link)
    answer = sign_up_form(client, "someone-else@example.test")
    assert answer.status_code == 302 and answer["Location"] != "/accounts/confirm-email/"
    account = User.objects.get(emailaddress__email="someone-else@example.test")
    assert account.email == "invited@example.test" and user_email_verified(user=account)  # what the link proved
    assert not EmailAddress.objects.get(email="someone-else@example.test").verified  # what it did not
    assert user_by_verified_email(email="someone-else@example.test") is None


def test_unconfirmed_users_are_never_attached(edge, make_user, invite):
    unconfirmed = make_user("unconfirmed@example.test", email_verified=False)
    organization, link = invite("unconfirmed@example.test", role=Role.VIEWER, host="testserver")
    admin = Membership.objects.get(organization=organization, team=None).user
    with pytest.raises(EmailNotVerified):
        member_add(organization=organization, team=None, user=unconfirmed, role=Role.DEVELOPER, actor=admin)
    with pytest.raises(EmailNotVerified):
        organization_create(name="Theirs", owner=unconfirmed)
    with pytest.raises(EmailNotVerified):
        invitation_accept(token=link.split("/")[-2], user=unconfirmed)
    assert not Membership.objects.filter(user=unconfirmed).exists()


def test_a_session_of_an_unconfirmed_account_is_ended(edge, make_user):
    """Sessions from before confirmation was mandatory (or from /admin/login/) do not keep working."""
    legacy = make_user(email_verified=False)
    organization = organization_create(name="Legacy", owner=make_user())
    Membership.objects.create(user=legacy, organization=organization, role=Role.ORG_ADMIN)  # an old row
    client = client_for(legacy)
    answer = client.get(f"/o/{organization.slug}/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    assert client.get("/")["Location"].startswith("/accounts/login/")  # logged out for good


def test_a_second_sign_up_with_the_address_mails_its_owner_and_creates_nothing(edge, mailoutbox):
    first = sign_up_form(client_for(None), "twice@example.test")
    mail.outbox.clear()
    second = sign_up_form(client_for(None), "TWICE@example.test")
    assert (second.status_code, second["Location"]) == (first.status_code, first["Location"])  # no enumeration
    assert User.objects.filter(email__iexact="twice@example.test").count() == 1
    assert [message.to for message in mail.outbox] == [["twice@example.test"]]
    assert "already" in mail.outbox[0].body


def test_operators_vouch_for_seeded_and_superuser_addresses(settings, tmp_path, edge):
    settings.HYDITE_STATE_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    seeded = User.objects.filter(email__endswith="@demo.hydite.localhost") | User.objects.filter(
        email=settings.HYDITE_ADMIN_EMAIL
    )
    assert seeded.count() == 4
    assert all(user_email_verified(user=user) for user in seeded)
    superuser = User.objects.create_superuser(email="Root@Example.test", password=PASSWORD)
    assert user_email_verified(user=superuser)
    assert EmailAddress.objects.get(user=superuser).primary


def test_the_admin_does_not_attach_an_unconfirmed_account(staff, make_user):
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    organization = organization_create(name="Admin Attach", owner=make_user())
    unconfirmed = make_user(email_verified=False)
    answer = client_for(staff).post(
        "/admin/orgs/membership/add/",
        {"user": unconfirmed.pk, "organization": organization.pk, "role": Role.VIEWER},
    )
    assert answer.status_code == 403  # memberships change on the Teams pages, which check the address
    assert not Membership.objects.filter(user=unconfirmed).exists()


def test_an_address_equal_only_to_the_database_s_case_folding_is_not_the_invited_one(
    staff, mailoutbox, django_capture_on_commit_callbacks
):
    """PostgreSQL's UPPER() folds the dotless i (U+0131) of a lookalike domain (another domain, xn--vctim-…,
    that anyone may register) into the I of `victim-company.test`: a case-insensitive match on the column is
    not the same address. The squatter confirms their own mailbox; the organisation is for the victim's."""
    squatter, lookalike_address = client_for(None), "owner@v\u0131ctim-company.test"
    sign_up_form(squatter, lookalike_address)
    squatter.post(confirmation_link(CONFIRM_LINK, lookalike_address))
    lookalike = User.objects.get(email=lookalike_address)
    assert user_email_verified(user=lookalike)
    assert user_by_verified_email(email="owner@victim-company.test") is None
    home = organization_create(name="Operators", owner=staff)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(staff).post(
            f"/o/{home.slug}/workspaces/invoiced/", {"name": "Victim Co", "admin_email": "owner@victim-company.test"}
        )
    victim_co = Organization.objects.get(name="Victim Co")
    assert not Membership.objects.filter(organization=victim_co, user=lookalike).exists()
    assert Invitation.objects.get(organization=victim_co).email == "owner@victim-company.test"
