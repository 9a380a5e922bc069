"""Step 3, resolve: the model alias in the key's channel, checked against the key's model lists, and the
deployment that serves this request (the router of fallbacks and strategies will live here)."""

import random

from apps.channels.snapshots import ChannelSnapshot, DeploymentSnapshot
from apps.gateway.errors import ModelNotFound
from apps.gateway.quota import model_refusal
from apps.keys.snapshots import KeySnapshot


def alias_deployments(key: KeySnapshot, channel: ChannelSnapshot, alias: str) -> list[DeploymentSnapshot]:
    """The deployments of `alias` the key may call (ModelNotFound, ModelNotAllowed)."""
    deployments = channel["models"].get(alias)
    if not deployments:
        raise ModelNotFound(f"The model `{alias}` does not exist or you do not have access to it.", param="model")
    refusal = model_refusal(key, alias)
    if refusal is not None:
        raise refusal
    return deployments


def pick_deployment(deployments: list[DeploymentSnapshot]) -> DeploymentSnapshot:
    if len(deployments) == 1:
        return deployments[0]
    return random.choices(deployments, weights=[d["weight"] for d in deployments])[0]  # noqa: S311 - load spreading


def callable_aliases(key: KeySnapshot, channel: ChannelSnapshot) -> list[str]:
    """The aliases /v1/models lists: those with a deployment that the key's model lists allow."""
    return [
        alias
        for alias, deployments in sorted(channel["models"].items())
        if deployments and model_refusal(key, alias) is None
    ]
