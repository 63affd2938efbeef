"""Flask blueprints: the storefront API, webhook receivers and operations endpoints."""
