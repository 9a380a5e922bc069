from django.urls import path

from apps.spend import views

app_name = "spend"

urlpatterns = [
    path("o/<slug:org_slug>/billing/", views.billing_view, name="billing"),
    path("o/<slug:org_slug>/billing/revenue/", views.revenue_view, name="revenue"),
    path("o/<slug:org_slug>/billing/reconciliation/", views.reconciliation_view, name="reconciliation"),
    path("o/<slug:org_slug>/billing/exports/", views.export_view, name="export"),
    path("o/<slug:org_slug>/billing/exports/<int:export_id>/", views.export_download_view, name="export_download"),
]
