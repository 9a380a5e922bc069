"""The routing-YAML import under hostile input: refused fast, with the field named, never a 500, never half done."""

import tracemalloc
from typing import Any

import pytest
import yaml
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.channels.models import ChannelModel, Deployment
from apps.channels.services import InvalidDeployment, channel_default_ensure
from apps.channels.yaml_io import MAX_YAML_BYTES, channel_yaml_import
from apps.providers.models import ProviderCredential
from tests.channels.conftest import stopped_early
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PUBLIC_BASE = "https://8.8.8.8/v1"  # an address literal: no DNS


@pytest.fixture
def channel(org_with_roles):  # type: ignore[no-untyped-def]
    return channel_default_ensure(
        organization=org_with_roles["organization"], actor=org_with_roles["users"]["org_admin"]
    )


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):  # type: ignore[no-untyped-def]
    """Any host name resolves to a public address: the fuzz must not wait on DNS."""
    monkeypatch.setattr(
        "apps.providers.url_safety.socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("8.8.8.8", 443))]
    )


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"alias": "ok", "provider": {"name": "openai", "api_base": PUBLIC_BASE}}
    for path, value in overrides.items():
        if path.startswith("provider_"):
            entry["provider"][path.removeprefix("provider_")] = value
        else:
            entry[path] = value
    return entry


def _document(*entries: dict[str, Any]) -> str:
    return yaml.safe_dump({"models": list(entries)})  # other than printable ASCII written as escapes: "\0", "\uD800"


def _nothing_imported(channel) -> bool:  # type: ignore[no-untyped-def]
    return (
        not ChannelModel.objects.filter(channel=channel).exists()
        and not ProviderCredential.objects.filter(organization=channel.organization).exists()
    )


def _laughs(levels: int) -> str:
    """The "billion laughs": each level nine aliases of the one before; the last is used as the model name."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    lines.append(
        f"models:\n  - alias: laugh\n    provider: {{name: openai, model: *l{levels - 1}, api_base: {PUBLIC_BASE}}}"
    )
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_before_anything_expands(channel):
    document = _laughs(7)  # expanded: 9**7 = 4.8 million strings, ~40 MB as the old importer's str() made them
    tracemalloc.start()
    try:
        with pytest.raises(InvalidDeployment) as caught:
            channel_yaml_import(channel=channel, text=document, actor=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.param == "yaml" and "anchors and aliases" in caught.value.message
    assert "line 1" in caught.value.message  # the first anchor: nothing after it was read
    assert peak < 1_000_000
    assert _nothing_imported(channel)
    with pytest.raises(InvalidDeployment, match="anchors and aliases"):
        channel_yaml_import(channel=channel, text=_laughs(9), actor=None)  # the audit's 428 bytes


@pytest.mark.parametrize(
    "text",
    [
        f"models:\n  - alias: &name a\n    provider: {{name: openai, api_base: {PUBLIC_BASE}}}\n",
        f"base: &base {{name: openai, api_base: {PUBLIC_BASE}}}\nmodels:\n  - alias: a\n    provider: *base\n",
        f"base: &base {{name: openai, api_base: {PUBLIC_BASE}}}\nmodels:\n  - alias: a\n    provider: {{<<: *base}}\n",
    ],
)
def test_anchors_and_aliases_are_refused(channel, text):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == "yaml" and "anchors and aliases" in caught.value.message
    assert _nothing_imported(channel)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x" * (MAX_YAML_BYTES + 1), "larger than"),
        ("models: " + "[" * 5000 + "]" * 5000, "nested deeper"),
        (f"models:\n  - alias: a\n    weight: {'9' * 9000}\n", "longer than"),
        (f"models:\n  - alias: a\n    weight: {'9' * 4400}\n", "digits"),  # Python's int-from-string limit
        ("created: 2001-02-30\nmodels: []\n", "day is out of range"),
        ("models: [!!python/object:os.system {}]", "could not determine a constructor"),
    ],
)
def test_documents_yaml_cannot_read_safely_are_refused(channel, text, problem):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == "yaml" and problem in caught.value.message


_ROOM = MAX_YAML_BYTES - 64


@pytest.mark.parametrize(
    "text",
    [
        "models: []\nx: [" + "1," * (_ROOM // 2) + "1]\n",  # 130,000 values the import never reads
        "models: []\nx: {" + "a: 1," * (_ROOM // 5) + "a: 1}\n",  # one key, 52,000 times
        "models: []\nx: {<<: [" + "{a: 1, b: 2}," * (_ROOM // 13) + "{}]}\n",  # merge keys, no alias needed
        "models: [" + "!!str 1," * (_ROOM // 8) + "1]\n",
    ],
)
def test_a_document_of_many_small_values_is_refused_before_it_is_all_read(channel, text, yaml_loaders):
    """Within the size cap, pure-Python YAML took 2 to 4 CPU seconds on each of these (then imported nothing),
    in the process that serves /v1: the parser stops at the most nodes 200 entries can need."""
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == "yaml" and "values" in caught.value.message
    assert stopped_early(yaml_loaders, text)


def test_the_largest_valid_document_is_read(channel):
    entries = [
        _entry(alias=f"a{n}", tags=[f"t{t}" for t in range(32)], weight=2, provider_model="m", provider_api_version="1")
        for n in range(200)
    ]
    assert len(channel_yaml_import(channel=channel, text=_document(*entries), actor=None)) == 200


def test_at_most_200_entries(channel):
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=_document(*[_entry(alias=f"a{n}") for n in range(201)]), actor=None)
    assert caught.value.param == "models"


BAD_FIELDS = [
    ("alias", "a" * 201, "models[1].alias"),
    ("alias", "a\x00b", "models[1].alias"),
    ("alias", "a\nb", "models[1].alias"),
    ("alias", "a\ud800", "models[1].alias"),  # a lone surrogate: PostgreSQL cannot store it
    ("alias", ["a"], "models[1].alias"),
    ("alias", "   ", "models[1].alias"),
    ("provider_name", ["openai"], "models[1].provider.name"),
    ("provider_name", "bedrock", "models[1].provider.name"),
    ("provider_model", "m" * 201, "models[1].provider.model"),
    ("provider_model", "gpt\x00", "models[1].provider.model"),
    ("provider_model", {"nested": "map"}, "models[1].provider.model"),
    ("provider_api_version", "v" * 100, "models[1].provider.api_version"),
    ("provider_api_version", "2024-01-01\r\nX-Injected: 1", "models[1].provider.api_version"),
    ("provider_api_version", 20240101, "models[1].provider.api_version"),
    ("provider_api_base", PUBLIC_BASE + "/" + "a" * 600, "models[1].provider.api_base"),
    ("provider_api_base", PUBLIC_BASE + "/\x00", "models[1].provider.api_base"),
    ("provider_api_base", [PUBLIC_BASE], "models[1].provider.api_base"),
    ("provider_api_base", "https://169.254.169.254/v1", "models[1].provider.api_base"),
    ("provider_api_key", "k" * 4097, "models[1].provider.api_key"),
    ("provider_api_key", "sk-\x00abc", "models[1].provider.api_key"),
    ("provider_api_key", "sk abc\r\nX: y", "models[1].provider.api_key"),
    ("provider_api_key", 12345, "models[1].provider.api_key"),
    ("tags", ["t" * 65], "models[1].tags"),
    ("tags", ["t\x00"], "models[1].tags"),
    ("tags", [f"t{n}" for n in range(33)], "models[1].tags"),
    ("tags", "prod", "models[1].tags"),
    ("tags", [1], "models[1].tags"),
    ("weight", 1001, "models[1].weight"),
    ("weight", -1, "models[1].weight"),
    ("weight", 2**40, "models[1].weight"),
    ("weight", "3", "models[1].weight"),
    ("weight", True, "models[1].weight"),
    ("weight", 1.5, "models[1].weight"),
]


@pytest.mark.parametrize(("field", "value", "param"), BAD_FIELDS)
def test_each_bad_field_is_refused_by_name_and_nothing_is_imported(channel, field, value, param):
    text = _document(_entry(alias="first", provider_api_key="sk-first-123"), _entry(**{field: value}))
    with pytest.raises(InvalidDeployment) as caught:
        channel_yaml_import(channel=channel, text=text, actor=None)
    assert caught.value.param == param
    assert _nothing_imported(channel)  # models[0] was valid: all or nothing


def test_the_page_answers_400_naming_the_field(channel, org_with_roles):
    org, admin = org_with_roles["organization"], client_for(org_with_roles["users"]["org_admin"])
    url = f"/o/{org.slug}/channels/{channel.slug}/import/"
    for field, value, param in [
        ("alias", "a" * 201, "models[0].alias"),
        ("alias", "a\x00b", "models[0].alias"),
        ("provider_api_version", "v" * 100, "models[0].provider.api_version"),
        ("provider_api_base", PUBLIC_BASE + "/" + "a" * 600, "models[0].provider.api_base"),
    ]:
        response = admin.post(url, {"yaml": _document(_entry(**{field: value}))})
        assert response.status_code == 400 and param in response.content.decode(), (field, response.status_code)
    response = admin.post(url, {"yaml": _laughs(9)})
    assert response.status_code == 400 and "anchors and aliases" in response.content.decode()
    assert _nothing_imported(channel)


def test_the_deployment_form_refuses_what_the_import_refuses(channel, org_with_roles):
    org, admin = org_with_roles["organization"], client_for(org_with_roles["users"]["org_admin"])
    base = f"/o/{org.slug}/channels/{channel.slug}/deployments/+add/"
    form = {"alias": "fast", "provider": "openai_compatible", "upstream_model": "m", "api_base": PUBLIC_BASE}
    for field, value in [("api_version", "20\x0124"), ("tags", "t" * 65), ("upstream_model", "m\x1bn")]:
        response = admin.post(base, {**form, "weight": "1", field: value})
        assert response.status_code == 400, (field, response.status_code)
    assert _nothing_imported(channel)


def test_the_admin_refuses_what_the_import_refuses(channel, make_user):
    staff = make_user()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    model = ChannelModel.objects.create(channel=channel, alias="admin-made")
    form = {"channel_model": model.pk, "provider": "openai", "upstream_model": "m", "weight": "1", "tags": "[]"}
    for field, value in [
        ("api_base", "https://169.254.169.254/v1"),
        ("api_base", "http://2130706433/v1"),
        ("api_version", "20\x0124"),
        ("tags", '["' + "t" * 65 + '"]'),
        ("weight", "0"),
    ]:
        response = client_for(staff).post(
            "/admin/llm_channels/deployment/add/", {"api_base": PUBLIC_BASE, **form, field: value}
        )
        assert response.status_code == 200 and b"errorlist" in response.content, (field, response.status_code)
    assert not Deployment.objects.filter(channel_model=model).exists()
    alias = client_for(staff).post(
        "/admin/llm_channels/channelmodel/add/",
        {"channel": channel.pk, "alias": "a\x01b", "deployments-TOTAL_FORMS": 0},
    )
    assert alias.status_code == 200 and b"errorlist" in alias.content


# What a hostile document may hold: any type YAML builds, strings of any character and length, huge numbers;
# most entries are valid but for a field or two, so the fuzz reaches every check and the database.
strings = st.text(max_size=20) | st.text(min_size=195, max_size=620)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | strings
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


valid_entries = st.fixed_dictionaries(
    {
        "alias": st.from_regex(r"[a-z][a-z0-9.-]{0,29}", fullmatch=True),
        "provider": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["openai", "openai-compatible", "azure", "anthropic", "gemini"]),
                "api_base": st.sampled_from([PUBLIC_BASE, "http://127.0.0.1:9/v1", "https://api.example.test/v1"]),
            },
            optional={
                "model": st.from_regex(r"[a-z][a-z0-9./:-]{0,39}", fullmatch=True),
                "api_key": st.from_regex(r"sk-[A-Za-z0-9]{8,40}", fullmatch=True),
                "api_version": st.sampled_from(["2024-10-21", "2024-08-01-preview"]),
            },
        ),
    },
    optional={
        "weight": st.integers(min_value=1, max_value=1000),
        "tags": st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), max_size=4),
    },
)
FIELDS = [
    "alias",
    "weight",
    "tags",
    "provider",
    *(f"provider.{key}" for key in ("name", "model", "api_base", "api_key")),
]


@st.composite
def entries(draw: st.DrawFn) -> Any:
    """A valid entry with up to two fields (any, nested ones too) replaced by hostile values."""
    entry = draw(valid_entries)
    for path in draw(st.lists(st.sampled_from([*FIELDS, "provider.api_version"]), max_size=2, unique=True)):
        *parents, last = path.split(".")
        target = entry["provider"] if parents else entry
        if isinstance(target, dict):
            target[last] = draw(values)
    return entry


documents = (
    st.builds(lambda models: yaml.safe_dump({"models": models}), st.lists(entries(), max_size=4))
    | st.builds(lambda models: yaml.safe_dump({"models": models}, allow_unicode=True), st.lists(entries(), max_size=4))
    | st.builds(lambda document: yaml.safe_dump(document, allow_unicode=True), values)
    | st.text(max_size=500)
    | st.builds(
        lambda text, anchor: f"a: &{anchor} {text}\nmodels: [*{anchor}]\n", st.text(max_size=30), st.text(max_size=5)
    )
)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=documents)
def test_fuzzed_imports_either_import_or_refuse(channel, text):
    with transaction.atomic():  # each example starts from an empty channel
        try:
            channel_yaml_import(channel=channel, text=text, actor=None)
        except InvalidDeployment as exc:
            assert exc.param and exc.message
            assert not Deployment.objects.filter(channel_model__channel=channel).exists()
        transaction.set_rollback(True)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=documents)
def test_fuzzed_imports_through_the_page_never_fail(channel, org_with_roles, text):
    org, admin = org_with_roles["organization"], client_for(org_with_roles["users"]["org_admin"])
    with transaction.atomic():
        response = admin.post(f"/o/{org.slug}/channels/{channel.slug}/import/", {"yaml": text})
        assert response.status_code in {302, 400}
        transaction.set_rollback(True)
