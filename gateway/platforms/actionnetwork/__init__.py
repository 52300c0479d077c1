"""Action Network (API v2, OSDI): the adapter, its settings and the wire format it speaks."""
