"""Benchmarks that print figures: `make bench` runs `python -m bench.run`.

Nothing here asserts a timing; the tests assert behaviour.
"""
