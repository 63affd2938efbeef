"""Seeded orchestrator bugs that the scenario suites must catch (`python -m tests.mutants`)."""
