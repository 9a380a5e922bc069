from django.db import migrations

USD = 1_000_000
# slug, name, price / month, RPM cap, TPM cap, seats, bundled quota / month, contact sales
PLANS = [
    ("free", "Free", 0, None, None, None, 0, False),
    ("pro", "Pro", 29 * USD, 600, 5_000_000, 1, 20 * USD, False),
    ("team", "Team", 199 * USD, 3_000, 30_000_000, 50, 150 * USD, False),
    ("business", "Business", 999 * USD, 10_000, None, 200, 800 * USD, False),
    ("enterprise", "Enterprise", 0, None, None, None, 0, True),
]


def plans_create(apps, schema_editor):  # type: ignore[no-untyped-def]
    plan_model = apps.get_model("billing", "Plan")
    for order, (slug, name, price, rpm, tpm, seats, quota, sales) in enumerate(PLANS):
        plan_model.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "monthly_price_micros": price,
                "rpm_cap": rpm,
                "tpm_cap": tpm,
                "seats": seats,
                "bundled_quota_micros": quota,
                "contact_sales": sales,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(plans_create, migrations.RunPython.noop)]
