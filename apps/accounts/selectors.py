from allauth.account.models import EmailAddress

from apps.accounts.models import User


def user_email_verified(*, user: User) -> bool:
    """Has the user proved they read mail at their address (confirmation link, invitation, operator)?"""
    return EmailAddress.objects.filter(user_id=user.pk, email__iexact=user.email, verified=True).exists()


def user_by_verified_email(*, email: str) -> User | None:
    """The user whose address is `email` (any case) and who proved it theirs, if there is one."""
    for user in User.objects.filter(email__iexact=email.strip()):
        if user_email_verified(user=user):
            return user
    return None
