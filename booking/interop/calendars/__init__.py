"""iCalendar output: one appointment as a file, private feeds for a household and for a
clinician, and each centre's closures as a public feed."""
