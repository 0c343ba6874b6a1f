"""The partner and calendar JSON API routers (mounted in config.api)."""
