from django.urls import path

from . import views

app_name = "bills"
urlpatterns = [
    path("bills/", views.bill_list, name="list"),
    path("bills/<str:number>/", views.bill_detail, name="detail"),
    path("bills/<str:number>/bill.pdf", views.bill_download, name="pdf"),
]
