"""zingy-nb benchmarks: one run, medians against baselines measured in the same run.

Run ``.venv/bin/python benchmarks/bench.py``; see the README's "Performance" section.
"""
