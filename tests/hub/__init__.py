"""A real JupyterHub for the team-store tests (``hub``), and a websocket client for the
kernels it starts (``kernel_client``)."""

from tests.hub.hub import OPERATOR, Hub, UserServer, running_hub
from tests.hub.kernel_client import RemoteKernel

__all__ = ["OPERATOR", "Hub", "RemoteKernel", "UserServer", "running_hub"]
