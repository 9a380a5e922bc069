from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.billing.services import stripe_event_handle, stripe_event_verify
from apps.core.errors import HyditeError


@csrf_exempt  # Stripe signs the body instead
@require_POST
def stripe_webhook_view(request: HttpRequest) -> JsonResponse:
    """POST /billing/stripe/webhook: 400 and nothing changed unless the signature holds; 200 once handled."""
    try:
        event = stripe_event_verify(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except HyditeError as exc:
        return JsonResponse({"error": {"message": exc.message, "type": exc.type, "code": exc.code}}, status=exc.status)
    return JsonResponse({"received": True, "outcome": stripe_event_handle(event=event)})
