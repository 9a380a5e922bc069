import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from apps.tenancy.errors import InstanceExists, InvalidInstance
from apps.tenancy.models import Domain, Instance
from apps.tenancy.services import instance_create
from tests.conftest import ACME_HOST, client_for


@pytest.mark.parametrize("schema", ["Public", "public", "pg_catalog", "1abc", "a-b", "x" * 64, ""])
def test_instance_create_refuses_bad_schema_names(db, schema):
    with pytest.raises(InvalidInstance):
        instance_create(name="Bad", schema_name=schema, kind="dedicated", domains=["bad.localhost"])


def test_instance_create_refuses_taken_schema_or_domain(db):
    with pytest.raises(InstanceExists):
        instance_create(name="Dup", schema_name="acme", kind="dedicated", domains=["dup.localhost"])
    with pytest.raises(InstanceExists):
        instance_create(name="Dup", schema_name="dupe", kind="dedicated", domains=[ACME_HOST])
    assert not Instance.objects.filter(schema_name="dupe").exists()
    assert not schema_exists("dupe")


@pytest.mark.slow
def test_create_instance_command_makes_a_routable_migrated_schema(db):
    # Runs inside the test transaction: the schema disappears with the rollback.
    call_command(
        "create_instance", "--name", "Globex", "--schema", "globex", "--tier", "team", "--domain", "globex.localhost"
    )
    instance = Instance.objects.get(schema_name="globex")
    assert (instance.kind, instance.tier) == ("dedicated", "team")
    assert Domain.objects.get(domain="globex.localhost").is_primary
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('globex.orgs_organization'), to_regclass('globex.audit_auditevent')")
        assert all(cursor.fetchone())
    response = client_for(None, host="globex.localhost").get("/accounts/login/")
    assert response.status_code == 200
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_instance", "--name", "Again", "--schema", "globex", "--domain", "g2.localhost")


def test_unknown_host_gets_a_404_page_not_a_traceback(db):
    response = client_for(None, host="nobody.localhost").get("/accounts/login/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "No Hydite instance is served at this address." in body
    assert "Traceback" not in body


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/key/list"), ("post", "/key/generate"), ("get", "/spend/report")]
)
def test_unknown_host_answers_the_management_api_in_its_envelope(db, method, path):
    response = getattr(client_for(None, host="nobody.localhost"), method)(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json", response.content[:200]
    assert response.json()["error"]["code"] == "not_found"


def test_host_routes_to_its_instance(db):
    edge_page = client_for(None).get("/accounts/signup/").content.decode()
    acme_page = client_for(None, host=ACME_HOST).get("/accounts/signup/").content.decode()
    assert 'name="password1"' in edge_page  # the Shared Edge is open for sign-up
    assert 'name="password1"' not in acme_page  # a Dedicated instance is invitation-only


def test_domains_are_cleaned_before_anything_is_created(db):
    with pytest.raises(InvalidInstance):
        instance_create(name="Bad", schema_name="badhost", kind="dedicated", domains=["not a host"])
    with pytest.raises(InstanceExists):
        instance_create(name="Case", schema_name="casey", kind="dedicated", domains=["ACME.localhost"])
    assert not schema_exists("badhost") and not schema_exists("casey")
    instance = instance_create(
        name="Dupes", schema_name="dupes", kind="dedicated", domains=["Dupes.localhost", "dupes.localhost "]
    )
    assert list(Domain.objects.filter(tenant=instance).values_list("domain", flat=True)) == ["dupes.localhost"]
