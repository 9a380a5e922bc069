import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin

from hydite.settings import base, domains, gateway, schedule
from tests.conftest import client_for

ROOT = Path(__file__).resolve().parent.parent
OUR_APPS = {"tenancy", "accounts", "orgs", "audit", "providers", "llm_channels", "keys"}


def _manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "HYDITE_FERNET_KEYS"}
    }
    env.update(env_overrides)
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy():
    result = _manage(
        {
            "SECRET_KEY": "k" * 20 + "Z9#q" * 12,
            "ALLOWED_HOSTS": "hydite.example.com",
            "HYDITE_FERNET_KEYS": "uJ4u3pm2GkXg2mLq3Y2T0aX0n7C1b8Q5V4w9e6r3t2s=",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_secret_key():
    result = _manage({"ALLOWED_HOSTS": "hydite.example.com"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_every_model_is_in_the_admin():
    ours = [model for model in apps.get_models() if model._meta.app_label in OUR_APPS]
    assert ours
    missing = [model._meta.label for model in ours if not admin.site.is_registered(model)]
    assert missing == []


@pytest.mark.parametrize(
    "label",
    [
        "tenancy.instance",
        "tenancy.domain",
        "accounts.user",
        "orgs.organization",
        "orgs.team",
        "orgs.membership",
        "orgs.invitation",
        "audit.auditevent",
        "tenancy.keyroute",
        "providers.providercredential",
        "llm_channels.channel",
        "llm_channels.channelmodel",
        "llm_channels.deployment",
        "llm_channels.routingversion",
        "keys.virtualkey",
    ],
)
def test_admin_changelists_render_for_staff(edge, make_user, label):
    staff = make_user()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    app_label, model_name = label.split(".")
    response = client_for(staff).get(f"/admin/{app_label}/{model_name}/")
    assert response.status_code == 200


def test_healthz_reports_database_and_redis(edge):
    response = client_for(None).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_production_refuses_to_start_without_encryption_keys():
    result = _manage({"SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "hydite.example.com"}, "check")
    assert result.returncode != 0
    assert "HYDITE_FERNET_KEYS must be set" in result.stderr


@pytest.mark.parametrize("part", [base, domains, gateway, schedule], ids=lambda part: part.__name__)
def test_every_setting_of_a_part_reaches_django(part):
    names = [name for name in vars(part) if name.isupper()]
    assert names
    assert [name for name in names if not hasattr(settings, name)] == []
