from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [path("o/<slug:org_slug>/audit/", views.event_list_view, name="event_list")]
