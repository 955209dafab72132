"""Open and connected (regulation arts. 12, 13, 16): scenarios and their public status, publications."""
