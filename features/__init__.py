"""Reading the data contract, validating it, the store, and point-in-time features.

This is the bottom layer: it imports nothing from ``models``, ``training`` or ``serving``.
"""
