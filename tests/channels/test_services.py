"""Deployment services: caps and timeouts survive an edit that does not carry them (the Channels page's form)."""

import pytest

from apps.channels.models import Deployment
from apps.channels.services import DeploymentSpec, InvalidDeployment, channel_model_set, deployment_replace
from tests.channels.conftest import PUBLIC_BASE

pytestmark = pytest.mark.django_db


def test_an_edit_without_caps_keeps_the_deployments(channel, admin):
    spec = DeploymentSpec("openai", "m", PUBLIC_BASE, rpm_limit=60, tpm_limit=1000, timeouts={"total_s": 30})
    channel_model_set(channel=channel, alias="a", deployments=[spec], actor=admin)
    deployment = Deployment.objects.get(channel_model__channel=channel)
    deployment_replace(deployment=deployment, spec=DeploymentSpec("openai", "m2", PUBLIC_BASE, weight=4), actor=admin)
    edited = Deployment.objects.get(channel_model__channel=channel)
    assert (edited.upstream_model, edited.weight, edited.rpm_limit, edited.tpm_limit, edited.timeouts) == (
        "m2",
        4,
        60,
        1000,
        {"total_s": 30},
    )
    deployment_replace(deployment=edited, spec=DeploymentSpec("openai", "m2", PUBLIC_BASE, rpm_limit=5), actor=admin)
    assert Deployment.objects.get(channel_model__channel=channel).rpm_limit == 5


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"rpm_limit": 0}, "rpm_limit"),
        ({"tpm_limit": 2**31}, "tpm_limit"),
        ({"rpm_limit": True}, "rpm_limit"),
        ({"timeouts": {"idle_s": -1}}, "timeouts.idle_s"),
        ({"timeouts": {"idle_s": float("nan")}}, "timeouts.idle_s"),
        ({"timeouts": ["total_s"]}, "timeouts"),
    ],
)
def test_services_refuse_bad_caps_and_timeouts(channel, admin, fields, param):
    with pytest.raises(InvalidDeployment) as caught:
        channel_model_set(
            channel=channel, alias="a", deployments=[DeploymentSpec("openai", "m", PUBLIC_BASE, **fields)], actor=admin
        )
    assert caught.value.param == param
    assert not Deployment.objects.filter(channel_model__channel=channel).exists()
