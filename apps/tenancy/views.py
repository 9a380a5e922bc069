from django.http import HttpRequest, HttpResponse
from django.template import loader


def unknown_host(request: HttpRequest) -> HttpResponse:
    """A host that maps to no instance: a plain 404 page, never a stack trace."""
    body = loader.render_to_string("404.html", {"unknown_host": True}, request=None)
    return HttpResponse(body, status=404)
