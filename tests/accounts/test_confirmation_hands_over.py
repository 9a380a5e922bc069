"""Issue 15, point 5: confirming an address hands the account to whoever reads that mailbox.

A squatter signs up with the owner's address and a password of their own; the confirmation link goes to the
owner. Opening it anywhere but in the browser session that gave the password discards that password, ends
the account's other sessions and logs the person who opened it in, to choose a password.
"""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from apps.accounts.models import User
from apps.accounts.selectors import user_email_verified
from apps.audit.models import AuditEvent
from apps.orgs.models import Organization
from tests.accounts.test_email_verification import CONFIRM_LINK, confirmation_link, sign_up_form
from tests.conftest import PASSWORD, client_for

VICTIM = "owner@victim-company.test"
OWNERS_PASSWORD = "the-owners-own-passphrase"
SET_PASSWORD = "/accounts/password/set/"


def _logged_in_as(client) -> int | None:  # type: ignore[no-untyped-def]
    """The account the client's session is logged in to, after a request (None: anonymous)."""
    home = client.get("/")
    if home.status_code == 302 and home["Location"].startswith("/accounts/login/"):
        return None
    return int(client.session["_auth_user_id"])


def _logs_in(email: str, password: str) -> bool:
    answer = client_for(None).post("/accounts/login/", {"login": email, "password": password})
    return answer.status_code == 302 and answer["Location"] == "/"


def _claim(owner, link: str) -> None:  # type: ignore[no-untyped-def]
    """The owner opens the link in their browser, presses Confirm and chooses a password."""
    answer = owner.post(link)
    assert answer.status_code == 302 and answer["Location"].startswith(SET_PASSWORD), answer["Location"]
    assert b"choose a password now" in owner.get(answer["Location"]).content
    chosen = owner.post(answer["Location"], {"password1": OWNERS_PASSWORD, "password2": OWNERS_PASSWORD})
    assert chosen.status_code == 302 and chosen["Location"] == "/"


def test_the_mailbox_owner_takes_the_account_the_squatter_signed_up(edge, mailoutbox):
    squatter = client_for(None)
    sign_up_form(squatter, VICTIM)
    account = User.objects.get(email=VICTIM)
    squatters_session = client_for(account)  # e.g. from /admin/login/ or from before confirmation was mandatory
    link = confirmation_link(CONFIRM_LINK, VICTIM)
    mail.outbox.clear()
    reset = squatter.post("/accounts/password/reset/", {"email": VICTIM})  # only ever mails the owner
    assert [message.to for message in mail.outbox] == [[VICTIM]]
    unknown = squatter.post("/accounts/password/reset/", {"email": "nobody@victim-company.test"})
    assert (reset.status_code, reset["Location"]) == (unknown.status_code, unknown["Location"])  # no tell

    owner = client_for(None)
    _claim(owner, link)
    account.refresh_from_db()
    assert user_email_verified(user=account)
    assert _logged_in_as(owner) == account.pk
    assert Organization.objects.filter(memberships__user=account, is_personal=True).exists()
    assert not _logs_in(VICTIM, PASSWORD)  # the squatter's password is gone
    assert _logs_in(VICTIM, OWNERS_PASSWORD)
    assert _logged_in_as(squatters_session) is None
    assert _logged_in_as(squatter) is None
    event = AuditEvent.objects.get(action="user.password_discard", target_id=str(account.pk))
    assert (event.organization_id, event.actor_id) == (None, account.pk)


def test_the_owner_who_leaves_the_set_password_page_can_still_reset_it(edge, mailoutbox):
    sign_up_form(client_for(None), VICTIM)
    owner = client_for(None)
    assert owner.post(confirmation_link(CONFIRM_LINK, VICTIM))["Location"].startswith(SET_PASSWORD)
    assert not User.objects.get(email=VICTIM).has_usable_password()
    assert not _logs_in(VICTIM, PASSWORD)
    owner.post("/accounts/logout/")
    owner.post("/accounts/password/reset/", {"email": VICTIM})
    reset = next(word for word in mail.outbox[-1].body.split() if "/accounts/password/reset/key/" in word)
    form = owner.get(reset.split("testserver", 1)[1], follow=True).redirect_chain[-1][0]
    owner.post(form, {"password1": OWNERS_PASSWORD, "password2": OWNERS_PASSWORD})
    assert _logs_in(VICTIM, OWNERS_PASSWORD)


@pytest.mark.parametrize("stale", [False, True], ids=["at-once", "after-allauths-login-timeout"])
@pytest.mark.parametrize("by", ["signing-up", "logging-in"])
def test_confirming_in_the_browser_that_gave_the_password_keeps_it(edge, make_user, mailoutbox, settings, by, stale):
    """The newcomer's walkthrough (`make run` prints the link, opened in the same browser); on the code before
    this change it passed too: it guards against discarding a password that was proved in this session."""
    newcomer = client_for(None)
    if by == "signing-up":
        sign_up_form(newcomer, "newcomer@example.test")
    else:  # an account from before confirmation was mandatory
        make_user("newcomer@example.test", email_verified=False)
        newcomer.post("/accounts/login/", {"login": "newcomer@example.test", "password": PASSWORD})
    account = User.objects.get(email="newcomer@example.test")
    if stale:  # allauth forgets the pending log-in, so it does not log in on confirmation
        settings.ACCOUNT_LOGIN_TIMEOUT = 0
    link = confirmation_link(CONFIRM_LINK, "newcomer@example.test")
    answer = newcomer.post(link)
    assert answer.status_code == 302 and not answer["Location"].startswith(SET_PASSWORD)
    assert _logged_in_as(newcomer) == (None if stale else account.pk)
    assert _logs_in("newcomer@example.test", PASSWORD)
    elsewhere = client_for(None)  # the link again, in another browser: the account is confirmed already
    assert elsewhere.post(link).status_code == 404
    assert _logged_in_as(elsewhere) is None
    assert _logs_in("newcomer@example.test", PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_discard").exists()


def test_opening_the_link_again_changes_nothing(edge, mailoutbox):
    squatter = client_for(None)
    sign_up_form(squatter, VICTIM)
    link = confirmation_link(CONFIRM_LINK, VICTIM)
    _claim(client_for(None), link)
    for again in (client_for(None), squatter):
        assert again.post(link).status_code == 404
        assert _logged_in_as(again) is None
    assert _logs_in(VICTIM, OWNERS_PASSWORD)  # the owner's new password is not discarded again
    assert AuditEvent.objects.filter(action="user.password_discard").count() == 1


def test_an_account_cannot_add_someone_elses_address(make_user):
    holder = make_user()
    answer = client_for(holder).post("/accounts/email/", {"action_add": "", "email": VICTIM})
    assert answer.status_code == 200  # the page again, with the form's error
    assert not EmailAddress.objects.filter(email__iexact=VICTIM).exists()
    assert not [message for message in mail.outbox if VICTIM in message.to]
