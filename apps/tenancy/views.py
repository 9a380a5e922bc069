from django.http import HttpRequest, HttpResponse
from django.template import loader

from apps.core.api import api_error_response, is_management_api_path


def unknown_host(request: HttpRequest) -> HttpResponse:
    """A host that maps to no instance: a plain 404 page (the management API's envelope on its URLs), never a
    stack trace."""
    if is_management_api_path(request.path):
        return api_error_response(404)
    body = loader.render_to_string("404.html", {"unknown_host": True}, request=None)
    return HttpResponse(body, status=404)
