"""Root conftest: pytest refuses ``pytest_plugins`` in nested conftest files."""

pytest_plugins = ["tests.isolation", "pytest_jupyter.jupyter_server"]
