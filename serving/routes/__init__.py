"""One thin router per resource; the work lives in the modules of ``serving``."""
