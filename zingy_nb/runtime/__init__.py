"""Running cloud-flow notebooks the way a Cloud Flow runs: web hooks and background tasks.

``serve`` (Jupyter Kernel Gateway's notebook-http mode), ``run`` (papermill) and
``scheduler`` (a jupyter-scheduler execution manager) start kernels only for notebooks
whose kernelspec is cloud-flow (``notebook_flow``); ``cli`` adds the commands to
``zingy-nb``.
"""
