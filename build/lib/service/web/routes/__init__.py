"""The HTTP API's routes, one module per resource; each calls the domain, none imports another."""
