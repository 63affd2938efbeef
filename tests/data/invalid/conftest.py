"""These files are broken on purpose (tests/scenarios/test_invalid.py checks their messages): never collect them."""

collect_ignore_glob = ["*.scenario.yaml"]
