"""Partners' keys and what is published for others to read (registered through booking.models)."""
