"""The incidents package's longer SQL, beside the modules that run it."""
