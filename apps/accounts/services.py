import secrets

from django.db import transaction

from apps.accounts.models import User


def user_create(*, email: str, password: str | None, full_name: str = "") -> User:
    return User.objects.create_user(email=email, password=password, full_name=full_name)


@transaction.atomic
def superuser_ensure(*, email: str, password: str | None) -> tuple[User, str | None]:
    """Make sure a staff superuser exists; returns it and the password if one was generated now."""
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if password:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_staff", "is_superuser"])
        return user, None
    generated = None if password else secrets.token_urlsafe(12)
    user = User.objects.create_superuser(email=email, password=password or generated)
    return user, generated
