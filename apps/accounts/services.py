import logging
import secrets

from allauth.account.models import EmailAddress
from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record

logger = logging.getLogger(__name__)


@transaction.atomic
def user_create(*, email: str, password: str | None, full_name: str = "", email_verified: bool = False) -> User:
    """A user and their address; `email_verified` only when an operator vouches for it (seeded accounts).

    Anyone else proves the address by its confirmation link or an invitation before they can do anything.
    """
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=email_verified)
    return user


def user_email_mark_verified(*, user: User) -> None:
    """An operator vouches for the user's address (createsuperuser, seed_demo); rerun-safe."""
    address = EmailAddress.objects.filter(user_id=user.pk, email__iexact=user.email).first()
    if address is None:
        EmailAddress.objects.filter(user_id=user.pk, primary=True).update(primary=False)
        EmailAddress.objects.create(user=user, email=user.email.lower(), primary=True, verified=True)
    elif not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])


@transaction.atomic
def user_password_discard(*, user: User) -> None:
    """The address was confirmed outside the session that chose the password: whoever chose it never proved
    the mailbox (a squatter, perhaps), so it stops working. So does every session of the account: Django
    checks each against a hash of the password, whatever instance it lives in.

    Audited in the instance where the link was opened.
    """
    user.set_unusable_password()
    user.save(update_fields=["password"])
    audit_record(
        actor=user,
        action="user.password_discard",
        target=user,
        organization_id=None,
        after={"reason": "address confirmed outside the session that signed up"},
    )
    logger.info("user %s: address confirmed outside its sign-up session, password discarded", user.pk)


@transaction.atomic
def superuser_ensure(*, email: str, password: str | None) -> tuple[User, str | None]:
    """Make sure a staff superuser exists; returns it and the password if one was generated now."""
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if password:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_staff", "is_superuser"])
        user_email_mark_verified(user=user)
        return user, None
    generated = None if password else secrets.token_urlsafe(12)
    user = User.objects.create_superuser(email=email, password=password or generated)
    return user, generated
