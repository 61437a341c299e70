from django.urls import path

from marketplace import views

app_name = "marketplace"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("products/<int:product_id>/", views.product_detail, name="product"),
    path("products/<int:product_id>/checkout/", views.checkout, name="checkout"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/reveal/", views.order_reveal, name="order-reveal"),
    path("orders/<int:order_id>/confirm/", views.order_confirm_view, name="order-confirm"),
]
