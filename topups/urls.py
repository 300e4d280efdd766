from django.urls import path

from . import repay_views, views

app_name = "topups"
urlpatterns = [
    path("pay/", views.pay, name="pay"),
    path("pay/auto/", views.auto_topup, name="auto"),
    path("repay/", repay_views.repay, name="repay"),
    path("topups/<uuid:public_id>/", views.topup_detail, name="detail"),
    path("topups/<uuid:public_id>/cancel/", views.cancel, name="cancel"),
    path("topups/<uuid:public_id>/status/", views.topup_status, name="status"),
    path("topups/<uuid:public_id>/receipt/", views.receipt, name="receipt"),
    path("topups/<uuid:public_id>/receipt.pdf", views.receipt_download, name="receipt_pdf"),
]
