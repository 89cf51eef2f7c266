"""The hostile-notebook table of issue #22, run as an unprivileged user.

``rows`` holds the Python cells (each one a way a notebook could reach a value or a
key; their helpers are in ``kernel_code``, the generic sweep in ``sweep``), ``js_rows``
the JavaScript ones (issue #26's kernels), ``driver`` runs them in real kernels as that
user, ``harness`` makes the user and its private folder and runs the driver, and
``table`` (used by the ``test_hostile_*`` files) scans what came back with
``tests/leaks/scanner.py``.
"""
