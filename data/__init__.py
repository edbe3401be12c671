"""The data layer: the contract, the store and its migrations, ingestion and importers.

Everything here knows the contract's tables and nothing of features, models or serving.
"""
