"""What users drive: the `sandbox` CLI, the supervisor behind `sandbox up`, the control-API client."""
