"""Provider adapters: one module per wire format, each with one `ADAPTER` implementing
`base.ProviderAdapter`; they import no Django."""

from apps.gateway.upstreams import anthropic, azure, gemini, openai_compatible
from apps.gateway.upstreams.base import ProviderAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": openai_compatible.ADAPTER,
    "openai_compatible": openai_compatible.ADAPTER,
    "deepseek": openai_compatible.ADAPTER,
    "qwen": openai_compatible.ADAPTER,
    "azure": azure.ADAPTER,
    "anthropic": anthropic.ADAPTER,
    "gemini": gemini.ADAPTER,
}


class ProviderNotSupported(Exception):
    pass


def adapter_for(provider: str) -> ProviderAdapter:
    try:
        return ADAPTERS[provider]
    except KeyError:
        raise ProviderNotSupported(f"The gateway has no adapter for provider {provider!r} yet.") from None
