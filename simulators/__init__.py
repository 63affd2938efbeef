"""Contract-driven provider simulators: any OpenAPI file in, a working simulator out."""
