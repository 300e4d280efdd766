from django.urls import path

from . import repay_views, views

app_name = "tickets"
urlpatterns = [
    path("pay/bank-transfer/", views.bank_transfer, name="bank_transfer"),
    path("repay/bank-transfer/", repay_views.repay_bank_transfer, name="repay_bank_transfer"),
    path("tickets/", views.ticket_list, name="list"),
    path("tickets/new/", views.ticket_create, name="create"),
    path("tickets/<str:number>/", views.ticket_detail, name="detail"),
    path("tickets/<str:number>/certificates/<int:certificate_id>/", views.certificate_download, name="certificate"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice"),
    path("invoices/<str:number>/pdf/", views.invoice_download, name="invoice_pdf"),
]
