from django.urls import URLPattern, path

from booking.vaccination.views import drives, stock
from booking.views.staff import dashboards

urlpatterns: list[URLPattern] = [
    path("staff/drives", drives.drives_page, name="staff-drives"),
    path("staff/drives/new", drives.new_drive_page, name="staff-new-drive"),
    path("staff/drives/<int:drive_id>", drives.drive_page, name="staff-drive"),
    path(
        "staff/drives/<int:drive_id>/<str:action>", drives.drive_action, name="staff-drive-action"
    ),
    path("staff/centres/<int:number>/stock", stock.stock_page, name="staff-stock"),
    path(
        "staff/centres/<int:number>/stock/lots/<int:lot_id>/withdraw",
        stock.withdraw_lot_page,
        name="staff-withdraw-lot",
    ),
    path(
        "staff/centres/<int:number>/dashboard",
        dashboards.centre_dashboard_page,
        name="staff-dashboard",
    ),
    path("staff/dashboard", dashboards.city_dashboard_page, name="staff-city-dashboard"),
]
