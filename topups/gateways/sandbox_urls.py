from django.urls import path

from . import sandbox_views

app_name = "sandbox"
urlpatterns = [
    path("checkout/<str:session_id>/", sandbox_views.checkout, name="checkout"),
]
