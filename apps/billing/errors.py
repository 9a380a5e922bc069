from apps.core.errors import HyditeError


class WebhookRejected(HyditeError):
    status, code = 400, "webhook_rejected"


class StripeNotConfigured(HyditeError):
    status, type, code = 503, "api_error", "stripe_not_configured"
    default_message = "Stripe is not configured on this deployment (test mode): nothing was processed."


class StripeUnavailable(HyditeError):
    status, type, code = 502, "api_error", "stripe_unavailable"
    default_message = "Stripe could not be reached; nothing was changed. Try again."
