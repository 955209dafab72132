"""The long SQL statements of the exchange package, one module per module that runs them."""
