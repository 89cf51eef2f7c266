"""The hostile-notebook table of issue #22, run as an unprivileged user.

``rows`` holds the cells (each one a way a notebook could reach a value or a key; their
helpers are in ``kernel_code``, the generic sweep in ``sweep``), ``driver`` runs them in real kernels as that user, ``harness`` makes the user and its
private folder and runs the driver, and ``test_hostile_notebook`` scans what came back
with ``tests/leaks/scanner.py``.
"""
