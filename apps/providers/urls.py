from django.urls import path

from apps.providers import views

app_name = "providers"

urlpatterns = [
    path("o/<slug:org_slug>/billing/prices/", views.prices_view, name="prices"),
]
