"""The framework-free engine: contracts, validation, synthesis, faults, journal, store, clock.

Nothing here imports Flask, Werkzeug or anything else of this project outside simulators.core.
"""
