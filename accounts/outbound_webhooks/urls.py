from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("", views.endpoints, name="endpoints"),
    path("<str:endpoint_id>/", views.detail, name="detail"),
    path("<str:endpoint_id>/edit/", views.edit, name="edit"),
    path("<str:endpoint_id>/rotate/", views.rotate, name="rotate"),
    path("<str:endpoint_id>/toggle/", views.toggle, name="toggle"),
    path("<str:endpoint_id>/delete/", views.delete, name="delete"),
    path("<str:endpoint_id>/replay/", views.replay_between, name="replay_range"),
    path("<str:endpoint_id>/deliveries/<str:delivery_id>/replay/", views.replay, name="replay"),
]
