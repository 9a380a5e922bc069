"""The Anthropic Messages dialect's cost (issue 18): the same gateway process called on /v1/messages for the
single OpenAI-format deployment, so every request and every stream event is translated both ways.

Bound: its streaming requests/s within 20 % of the OpenAI streaming scenario on the same process.
"""

from __future__ import annotations

from dataclasses import replace

from bench_load import SCENARIOS, Result, Target

STREAM_BOUND = 0.80
MESSAGES = "messages"


def dialect_targets(single: Target) -> list[Target]:
    """The gateway's single-deployment alias, called in Anthropic's dialect (the benchmark's body is valid in
    both: model, max_tokens and messages)."""
    key = single.headers.get("Authorization", "").removeprefix("Bearer ")
    url = single.url.replace("/v1/chat/completions", "/v1/messages")
    return [replace(single, name=f"{single.name} {MESSAGES}", url=url, headers={"x-api-key": key})]


def report_dialects(results: list[Result], ttfb: dict[str, float], single: str) -> None:
    by = {(r.target, r.scenario): r for r in results}
    messages = f"{single} {MESSAGES}"
    if (messages, "c1 plain") not in by or (single, "c1 plain") not in by:
        return
    print(
        f"\n| figure | {single} (OpenAI) | {messages} (Anthropic) | Anthropic / OpenAI | holds |\n|---|---|---|---|---|"
    )
    for scenario in SCENARIOS:
        before, after = by[(single, scenario)].rps, by[(messages, scenario)].rps
        ratio = after / max(before, 0.01)
        holds = ("yes" if ratio >= STREAM_BOUND else "NO") if "stream" in scenario else ""
        print(f"| {scenario} req/s | {before:,.0f} | {after:,.0f} | {ratio:.3f} | {holds} |")
    print(f"| c1 p50 ms | {by[(single, 'c1 plain')].p50_ms:.3f} | {by[(messages, 'c1 plain')].p50_ms:.3f} | | |")
    print(f"| stream TTFB p50 ms | {ttfb[single]:.3f} | {ttfb[messages]:.3f} | | |")
