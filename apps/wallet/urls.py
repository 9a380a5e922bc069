from django.urls import path

from apps.wallet import views
from apps.wallet.models import CodeKind

app_name = "wallet"

urlpatterns = []
for kind, segment in ((CodeKind.CREDIT, "credit-codes"), (CodeKind.ACTIVATION, "activation-codes")):
    base, name = f"o/<slug:org_slug>/{segment}/", views.SLUG[kind]
    urlpatterns += [
        path(base, views.codes_view(kind), name=f"{name}_codes"),
        path(f"{base}redeem/", views.redeem_view(kind), name=f"{name}_redeem"),
        path(f"{base}batches/", views.mint_view(kind), name=f"{name}_mint"),
        path(f"{base}batches/<int:batch_id>/", views.batch_view(kind), name=f"{name}_batch"),
        path(f"{base}batches/<int:batch_id>/disable/", views.batch_disable_view(kind), name=f"{name}_batch_disable"),
        path(f"{base}batches/<int:batch_id>/export.csv", views.batch_export_view(kind), name=f"{name}_batch_export"),
        path(f"{base}codes/<int:code_id>/disable/", views.code_disable_view(kind), name=f"{name}_code_disable"),
    ]

urlpatterns += [
    path("o/<slug:org_slug>/workspaces/invoiced/", views.invoiced_organization_create_view, name="invoiced_create"),
    path("o/<slug:org_slug>/workspaces/invoices/<int:invoice_id>/paid/", views.invoice_paid_view, name="invoice_paid"),
]
