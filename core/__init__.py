"""ge2: Gemini Embedding 2 for the Python tools people already run."""
