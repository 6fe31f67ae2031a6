"""Throughput, overhead and memory benchmark of ge2 against the Gemini integrations people use.

Run ``python -m benchmarks.run`` (``make bench``); ``--smoke`` is the short CI version.
"""
