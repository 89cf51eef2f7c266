"""jupyter-scheduler jobs that run only cloud-flow notebooks.

jupyter-scheduler runs a job's notebook on the notebook's own kernelspec with nbconvert,
in a process of its own, and writes the outputs itself (not through the contents
manager, so the server's save-time scrub never sees them): what protects a job's
outputs is the cloud-flow kernel's own redactor. Without this class a page-flow job
still fails as soon as it retrieves a secret (the core refuses it). With it, enabled by

    c.Scheduler.execution_manager_class = "zingy_nb.runtime.scheduler.CloudFlowExecutionManager"

a job whose notebook is not cloud-flow fails before any kernel starts, with the refusal
as the job's status message, and a cloud-flow job's kernel records ``scheduler:JOB_ID``
as how it ran with each retrieval (``zingy-nb audit``).
"""

from __future__ import annotations

from jupyter_scheduler.executors import DefaultExecutionManager

from .notebook_flow import check, mark_kernels


class CloudFlowExecutionManager(DefaultExecutionManager):
    """The default execution manager, behind the cloud-flow check."""

    def execute(self) -> None:
        # Runs in the job's own process: the environment set here is this job's only.
        check(self.staging_paths["input"])  # CloudFlowOnlyError -> status FAILED, its message
        mark_kernels(f"scheduler:{self.job_id}", self.staging_paths["input"])
        super().execute()
