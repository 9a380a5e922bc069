"""The ASGI entry point: Django is set up first, then requests are dispatched.

/v1 (and the API paths clients use without it: /chat/completions, /openai/deployments/…, see
apps.gateway.parse) goes to the gateway, a bare ASGI application with no Django middleware and no ORM
on a warm request; everything else goes to Django.
"""

import os
from collections.abc import Callable
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hydite.settings")


class OneThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler running each request's middleware, view and error page in one thread.

    Django's own ASGI handler runs sync middleware and views in the request's thread, but turns an
    exception into its error page in another thread (`thread_sensitive=False`), whose database connection
    is not on the tenant's schema that TenantMainMiddleware set on the request thread's: a 403 page whose
    navigation reads tenant tables became a 500, and each such thread held a connection of its own. Our
    views and middleware are all sync, so the whole chain runs where the schema was set, in one hop.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        sync_chain: Callable[[HttpRequest], HttpResponseBase] = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(sync_chain, thread_sensitive=True)


django.setup(set_prefix=False)
django_application = OneThreadASGIHandler()

from apps.gateway.app import gateway  # noqa: E402 - needs Django set up first
from apps.gateway.parse import is_gateway_path  # noqa: E402

Scope = dict[str, Any]


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await gateway.startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await gateway.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and is_gateway_path(scope["path"]):
        await gateway(scope, receive, send)
        return
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await django_application(scope, receive, send)
