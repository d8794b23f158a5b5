"""The versioned HTTP API (``/api/v1``): one router per resource."""
