"""Side-by-side benchmarks: our code and a peer in the same run, reported as ratios.

Run by hand (``python -m bench``); the test suite runs each benchmark once at a
tiny size so that they cannot rot, and never asserts on a time.
"""
