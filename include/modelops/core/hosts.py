"""Which machine a task ran on, as Airflow records it (`task_instance.hostname`).

The production-shaped stack runs two Celery workers on one machine; each sets MODELOPS_WORKER_NAME,
and Airflow's `[core] hostname_callable` points here, so the metadata DB tells the workers apart.
"""

from __future__ import annotations

import os
import socket


def task_hostname() -> str:
    """The worker's name (MODELOPS_WORKER_NAME) on the machine's name, or the machine's name alone."""
    machine = socket.getfqdn()
    worker = os.environ.get("MODELOPS_WORKER_NAME", "").strip()
    return f"{worker}@{machine}" if worker else machine
