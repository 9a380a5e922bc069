import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import CharField, OuterRef, Subquery
from django.db.models.functions import Cast, Coalesce


def shown_to_from_the_trail(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Each key's secret was shown to whoever the audit trail names as its last minter or regenerator."""
    VirtualKey = apps.get_model("keys", "VirtualKey")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    users = apps.get_model("accounts", "User").objects.values("pk")
    last_shown = (
        AuditEvent.objects.filter(
            target_type="keys.virtualkey",
            target_id=Cast(OuterRef("pk"), CharField()),
            action__in=["key.create", "key.regenerate"],
            actor_id__in=users,  # the trail's actor has no database constraint
        )
        .order_by("-created_at", "-id")
        .values("actor_id")[:1]
    )
    VirtualKey.objects.update(secret_shown_to_id=Coalesce(Subquery(last_shown), "user_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0005_alter_virtualkey_user"),
        ("audit", "0002_append_only"),
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="virtualkey",
            name="secret_shown_to",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(shown_to_from_the_trail, migrations.RunPython.noop),
    ]
