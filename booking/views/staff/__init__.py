"""The staff desk pages (/staff/centres/<n>/…): the day's queue, the week, schedules and
closures (desk_urls), and drives, stock and dashboards (planning_urls)."""
