from apps.core.errors import HyditeError


class InvalidWebhookEndpoint(HyditeError):
    code = "invalid_webhook_endpoint"
