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
| x-mock-break-after: 3   | mock-broken-stream        | drop the connection after 3 stream chunks   |
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
"""
