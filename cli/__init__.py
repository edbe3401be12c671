"""The ``dealer-risk`` command: the entry point that reads settings and calls the layers."""
