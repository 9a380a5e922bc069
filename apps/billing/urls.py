from django.urls import path

from apps.billing import views

app_name = "billing"

base = "o/<slug:org_slug>/plans/"
urlpatterns = [
    path(base, views.plans_view, name="plans"),
    path(f"{base}subscribe/", views.subscribe_view, name="subscribe"),
    path(f"{base}pause/", views.pause_view, name="pause"),
    path(f"{base}resume/", views.resume_view, name="resume"),
    path(f"{base}topup/", views.topup_view, name="topup"),
    path(f"{base}grant/", views.grant_view, name="grant"),
]
