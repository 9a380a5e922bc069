from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.orgs.models import Membership, Organization
from apps.orgs.roles import Role
from apps.orgs.services.invitations import invitation_create
from tests.conftest import ACME_HOST, PASSWORD, client_for


def _signup(client, email):
    return client.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})


def _confirm(client, mailoutbox, email):
    """Open the confirmation link mailed at sign-up (and press its button)."""
    body = next(message.body for message in reversed(mailoutbox) if message.to == [email.lower()])
    link = next(word for word in body.split() if "/accounts/confirm-email/" in word)
    return client.post(link.split("testserver", 1)[1])


def test_signup_on_shared_edge_creates_personal_org_once_confirmed(edge, mailoutbox):
    client = client_for(None)
    response = _signup(client, "Founder@Example.test")
    assert response.status_code == 302
    assert _confirm(client, mailoutbox, "Founder@Example.test").status_code == 302
    user = User.objects.get(email__iexact="founder@example.test")
    org = Organization.objects.get(memberships__user=user, memberships__team=None)
    assert org.is_personal
    assert Membership.objects.get(organization=org, team=None, user=user).role == Role.ORG_ADMIN
    assert Membership.objects.get(team__organization=org, team__is_default=True, user=user).role == Role.TEAM_LEAD
    assert AuditEvent.objects.filter(organization=org, action="organization.create", actor=user).exists()
    # Logged in by the confirmation, landing on the new organisation.
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == f"/o/{org.slug}/"
    assert client.get(home["Location"]).status_code == 200


def test_signup_rejects_bad_input_with_form_errors(edge):
    client = client_for(None)
    response = client.post("/accounts/signup/", {"email": "not-an-email", "password1": "x", "password2": "y"})
    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content
    assert not User.objects.filter(email="not-an-email").exists()


def test_dedicated_instance_signup_needs_an_invitation(acme, make_user, mailoutbox, django_capture_on_commit_callbacks):
    owner = make_user()
    from apps.orgs.services.organizations import organization_create

    org = organization_create(name="Acme Corp", owner=owner)
    client = client_for(None, host=ACME_HOST)
    assert _signup(client, "walkin@example.test").status_code == 200
    assert not User.objects.filter(email="walkin@example.test").exists()

    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(
            organization=org,
            team=None,
            email="invitee@example.test",
            role=Role.DEVELOPER,
            actor=owner,
            accept_url_base=f"http://{ACME_HOST}/invitations",
        )
    link = mailoutbox[0].body.split("Accept: ", 1)[1].strip()
    path = link.split(ACME_HOST, 1)[1]
    assert client.get(path).status_code == 200  # remembers the invitation in the session
    assert _signup(client, "invitee@example.test").status_code == 302
    invitee = User.objects.get(email="invitee@example.test")
    assert not Organization.objects.filter(memberships__user=invitee).exists()  # no personal org on Dedicated
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == f"/o/{org.slug}/"
    assert Membership.objects.get(organization=org, team=None, user=invitee).role == Role.DEVELOPER


def test_invitation_page_for_unknown_token_is_404(edge):
    response = client_for(None).get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert b"does not exist" in response.content


def test_password_reset_mails_a_working_link(edge, make_user, mailoutbox):
    user = make_user("forgetful@example.test")
    client = client_for(None)
    response = client.post("/accounts/password/reset/", {"email": "forgetful@example.test"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["forgetful@example.test"]
    link = next(word for word in mailoutbox[0].body.split() if "/accounts/password/reset/key/" in word)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    new_password = "a-brand-new-passphrase-42"
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else path,
        {"password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_inviting_an_overlong_email_is_a_form_error(org_with_roles):
    org = org_with_roles["organization"]
    client = client_for(org_with_roles["users"]["org_admin"])
    email = "a" * 60 + "@" + "b" * 200 + ".test"
    response = client.post(f"/o/{org.slug}/members/invite/", {"email": email, "role": "viewer"})
    assert response.status_code == 400
    assert b"at most 254 characters" in response.content


def test_signup_with_a_very_long_email_works(edge, mailoutbox):
    email = "x" * 130 + "@example.test"  # a personal org name from this local part would overflow
    client = client_for(None)
    assert _signup(client, email).status_code == 302
    assert _confirm(client, mailoutbox, email).status_code == 302
    assert Organization.objects.filter(memberships__user__email=email).exists()
