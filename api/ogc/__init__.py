"""OGC API - Features (Part 1: Core, GeoJSON; Part 2: CRS by reference) under ``/ogc``."""
