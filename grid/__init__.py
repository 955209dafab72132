"""H3 indexing and everything built on it: coverage, locate, routing, candidates, hotspots."""
