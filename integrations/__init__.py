"""Framework adapters for ge2: each module translates one framework to ``ge2``."""
