"""The /v1 gateway: a bare ASGI application (no Django middleware, views or ORM on a warm request)."""
