"""The built-in mock LLM provider: deterministic, OpenAI-compatible, for the demo, tests and benchmarks.

Pure ASGI with orjson, no Django: `app.py` routes, `openai_routes.py`, `anthropic.py` and `gemini.py`
answer in each wire format from one `plan.ChatPlan`. Same request, same answer; `usage` counts
real (whitespace) tokens. Behaviour is chosen per request by headers, or by
the model name when a client cannot set headers:

| header                  | model name                | effect                                      |
|-------------------------|---------------------------|---------------------------------------------|
| x-mock-status: 429      | mock-status-429           | answer that status with OpenAI's error body |
| x-mock-delay-ms: 250    | mock-slow-250             | wait before the first byte                  |
| x-mock-timeout: 1       | mock-timeout              | never answer (until the client gives up)    |
| x-mock-break-after: 3   | mock-broken-stream        | drop the connection after 3 stream events   |
| x-mock-chunks: 20       |                           | content chunks in a stream (default 8)      |
| x-mock-chunk-delay-ms: 5| mock-drip-5               | pause between stream chunks                 |
|                         | mock-gpt-4o-mini-long     | a long answer (400 words, or max_tokens),   |
|                         |                           | one word per stream chunk                   |
|                         | mock-usage-negative       | report impossible usage (also -huge,        |
|                         |                           | -float, -text, -inconsistent, -cached)      |

Bodies of /v1/chat/completions, /v1/completions and /v1/embeddings are checked as OpenAI checks them
(`apps.gateway.request_shape`: types and ranges, OpenAI's messages and codes); `n` choices are answered.

Every answer sets a session cookie, as providers behind a CDN do (Cloudflare's `__cf_bm`). A request
for a model whose name contains `mock-cookie-check` that sends a cookie back is refused with 400: a
gateway must not carry one tenant's upstream cookies into another tenant's requests.

Virtual providers: `/mock/<target>/…` is served exactly like `…` (`/mock/primary/v1/chat/completions`,
`/mock/backup/v1/messages`, `/mock/gem/v1beta/models/m:generateContent`, `/mock/az/openai/deployments/…`),
but counted and faulted under `<target>` (`[a-z0-9][a-z0-9_-]{0,39}`, not `faults` or `stats`; anything
else is a 404). Unprefixed requests are target `default`. So one process stands for several providers:
api_base `http://127.0.0.1:PORT/mock/primary/v1` for OpenAI, `…/mock/backup` or `…/mock/backup/v1` for
Anthropic, `…/mock/gem/v1beta` for Gemini, `…/mock/az` for Azure.

Control API (JSON, no key: a development tool on loopback), state in memory per process:

    PUT    /mock/faults/<target>  {"status": 503, "count": 3, "retry_after": "1"}  the next 3 requests fail
    GET    /mock/faults           active faults, each with "remaining" (null: until cleared)
    DELETE /mock/faults[/<target>]  clear all faults, or one target's
    GET    /mock/stats            {"<target>": {"requests": n, "failed": m}} since start or the last reset
    DELETE /mock/stats            reset the counts

A fault's fields (all optional; unknown fields or wrong types are a 400 naming the field):
`count` (null: every request until cleared); `status` (400-599: an error answer in the route's own wire
format: OpenAI's for OpenAI and Azure routes, Anthropic's `{"type":"error",…}` with its error type per
status, 529 `overloaded_error` included, Gemini's `google.rpc.Status`); `error` (`context_length` or
`content_policy`: the provider's own 400 refusal; Gemini blocks a prompt with a 200 and `promptFeedback`);
`retry_after` / `retry_after_ms` (headers of the error answer); `delay_ms` (before the whole answer);
`timeout` (never answer); `first_byte_delay_ms` (between a stream's 200 headers and its first event);
`idle_ms` + `idle_after` (pause a stream idle_ms after idle_after events); `break_after` (drop a
stream after N events). A target's fault wins over what the request asks by header or model name; what
the fault leaves unset still applies. Counts are exact under concurrency: requests are counted and
faults taken without an await in between. `requests` counts every request to the target but /health;
`failed` those answered with an error, hung or dropped on purpose.
"""
