from django.urls import URLPattern, path

from booking.views.staff import bulk, desk, phones, schedules, today, walk_ins, week

urlpatterns: list[URLPattern] = [
    path("staff/centres/<int:number>/today", today.today_page, name="staff-today"),
    path(
        "staff/centres/<int:number>/today/appointments/<int:appointment_id>/<str:action>",
        today.queue_action,
        name="staff-queue-action",
    ),
    path(
        "staff/centres/<int:number>/today/walk-ins/<int:walk_in_id>/<str:action>",
        walk_ins.walk_in_action,
        name="staff-walk-in-action",
    ),
    path("staff/centres/<int:number>/walk-ins", walk_ins.walk_ins_page, name="staff-walk-ins"),
    path(
        "staff/centres/<int:number>/walk-ins/add",
        walk_ins.add_walk_in_view,
        name="staff-walk-in-add",
    ),
    path(
        "staff/centres/<int:number>/walk-ins/<int:walk_in_id>",
        walk_ins.walk_in_slip_page,
        name="staff-walk-in-slip",
    ),
    path("staff/centres/<int:number>/week", week.week_page, name="staff-week"),
    path("staff/centres/<int:number>/schedules", schedules.schedules_page, name="staff-schedules"),
    path(
        "staff/centres/<int:number>/schedules/<int:schedule_id>",
        schedules.schedule_page,
        name="staff-schedule",
    ),
    path("staff/centres/<int:number>/closures", schedules.closures_page, name="staff-closures"),
    path("staff/centres/<int:number>/move-or-cancel", bulk.bulk_page, name="staff-bulk"),
    path(
        "staff/centres/<int:number>/shared-phones",
        phones.shared_phones_page,
        name="staff-shared-phones",
    ),
    path(
        "staff/centres/<int:number>/shared-phones/<int:account_id>/<str:action>",
        phones.shared_phone_action,
        name="staff-shared-phone-action",
    ),
    path("staff/centres/<int:number>/desk", desk.desk_page, name="staff-desk"),
    path(
        "staff/centres/<int:number>/desk/register",
        desk.register_page,
        name="staff-desk-register",
    ),
    path(
        "staff/centres/<int:number>/desk/people/<int:patient_id>",
        desk.person_page,
        name="staff-desk-person",
    ),
    path(
        "staff/centres/<int:number>/desk/people/<int:patient_id>/book",
        desk.book_action,
        name="staff-desk-book",
    ),
    path(
        "staff/centres/<int:number>/desk/appointments/<int:appointment_id>/slip",
        desk.slip_page,
        name="staff-desk-slip",
    ),
]
