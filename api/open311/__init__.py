"""Open311 GeoReport v2 (``/open311/v2``): the city's public reporting interface, in XML and JSON."""
