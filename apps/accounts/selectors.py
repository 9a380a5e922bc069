from allauth.account.models import EmailAddress

from apps.accounts.models import User


def user_email_verified(*, user: User) -> bool:
    """Has the user proved they read mail at their address (confirmation link, invitation, operator)?"""
    return EmailAddress.objects.filter(user_id=user.pk, email__iexact=user.email, verified=True).exists()


def user_by_verified_email(*, email: str) -> User | None:
    """The user whose address is `email` (any case) and who proved it theirs, if there is one.

    "Any case" as Python lower-cases, like allauth's log-in: PostgreSQL's case-insensitive match also folds
    e.g. the dotless i (U+0131) of a lookalike domain, another mailbox, into the i of the real one.
    """
    wanted = email.strip().lower()
    for user in User.objects.filter(email__iexact=wanted):
        if user.email.lower() == wanted and user_email_verified(user=user):
            return user
    return None
