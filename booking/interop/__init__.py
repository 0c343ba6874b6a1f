"""What others read and how partners book: the project's boundary with other systems.

FHIR R4 resources and search (`fhir`), SMART Scheduling Links files (`fhir.publishing`),
calendar files and feeds (`calendars`), open data (`open_data`), partners, their keys and
partner booking (`partner_keys`, `partners`, `api`, `admin`, `models`). A leaf: nothing else in
booking imports this room except the URL and API wiring in config and booking's model index."""
