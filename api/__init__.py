"""HTTP and command-line adapters over spatial/ and grid/."""
