"""Point-in-time features: the pipelines and the feature catalogue.

Features are pure functions of the contract's event tables and an ``as_of`` date; this
package imports only the data layer (``data``), nothing from models, training or serving.
"""
