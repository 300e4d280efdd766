from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("", views.endpoints, name="endpoints"),
    path("<int:endpoint_id>/", views.detail, name="detail"),
    path("<int:endpoint_id>/edit/", views.edit, name="edit"),
    path("<int:endpoint_id>/rotate/", views.rotate, name="rotate"),
    path("<int:endpoint_id>/toggle/", views.toggle, name="toggle"),
    path("<int:endpoint_id>/delete/", views.delete, name="delete"),
    path("<int:endpoint_id>/replay/", views.replay_between, name="replay_range"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/replay/", views.replay, name="replay"),
]
