"""The built-in mock LLM provider: deterministic, OpenAI-compatible, for the demo, tests and benchmarks.

Pure ASGI with orjson, no Django: `app.py` routes, `openai_routes.py`, `responses.py`, `anthropic.py` and
`gemini.py` answer in each wire format from one `plan.ChatPlan`. Same request, same answer; `usage` counts
real (whitespace) tokens. Routes: OpenAI's /v1/chat/completions, /v1/completions, /v1/embeddings,
/v1/models and /v1/responses (+ GET/DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items for
stored responses, in memory, least recently used forgotten first); Anthropic's /v1/messages and
/v1/messages/count_tokens; Gemini's /v1beta/models/<m>:generateContent and :streamGenerateContent; Azure's
/openai/deployments/<d>/…. Behaviour is chosen per request by headers, or by the model name when a client
cannot set headers, or by a marker in the last user message:

| header                  | model name / message      | effect                                      |
|-------------------------|---------------------------|---------------------------------------------|
| x-mock-status: 429      | mock-status-429           | answer that status with the route's error   |
| x-mock-delay-ms: 250    | mock-slow-250             | wait before the first byte                  |
| x-mock-timeout: 1       | mock-timeout              | never answer (until the client gives up)    |
| x-mock-break-after: 3   | mock-broken-stream        | drop the connection after 3 stream events   |
| x-mock-chunks: 20       |                           | content chunks in a stream (default 8)      |
| x-mock-chunk-delay-ms: 5| mock-drip-5               | pause between stream chunks                 |
|                         | mock-gpt-4o-mini-long     | a long answer (400 words, or max_tokens),   |
|                         |                           | one word per stream chunk                   |
|                         | mock-usage-negative       | report impossible usage (also -huge,        |
|                         |                           | -float, -text, -inconsistent, -cached)      |
| x-mock-cache-read: 1    | …mock-cache-read…         | Anthropic: the cached prefix is reported as |
|                         |                           | read, not written (`anthropic_request.py`)  |
|                         | message has [mock:tool]   | call the first tool given                   |
|                         | message has               | call the tool NAME (a name not given: text) |
|                         |   [mock:tool=NAME]        |                                             |

Tools (`tools.py`), the same in every wire format: with tools given the mock answers text, unless the tool
choice forces a tool (OpenAI `"required"` or a named function, Anthropic `{"type": "any"}` or
`{"type": "tool", "name": …}`, Gemini mode `ANY`, Responses as OpenAI) or the last message is the user's
and holds a marker; a forced choice takes the marked tool, else the first. A tool result as the last
message (OpenAI role `tool`, Anthropic `tool_result`, Gemini `functionResponse`, Responses
`function_call_output`) is answered with text unless the choice forces a tool, so an agent's loop ends.
Arguments (and structured answers: `response_format`/`text.format` json_schema, Anthropic
`output_config.format`, Gemini `responseSchema`) are made valid against the JSON Schema
(`schema_values.py`); streams send the arguments in several pieces. One call per answer. Anthropic's
`thinking` (enabled or adaptive) answers a thinking block with a signature first; the answer's words are
exactly the request's max tokens (less the thinking), or 12 when it sets none.

Bodies of /v1/chat/completions, /v1/completions and /v1/embeddings are checked as OpenAI checks them
(`apps.gateway.request_shape`: types and ranges, OpenAI's messages and codes); `n` choices are answered.
/v1/responses bodies are checked in `responses_request.py`, Anthropic's in `anthropic_request.py` (its
`field: message` errors; unknown fields, betas and block types pass), Gemini's in `gemini.py`; each
route refuses in its provider's error shape. Embeddings take a string, strings, token ids or arrays of
token ids, answer `dimensions` floats (8 by default) or, with `encoding_format: "base64"`, their
little-endian float32 bytes in base64.

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
