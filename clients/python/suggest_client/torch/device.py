"""Which device trains: the best one this machine has, unless the caller names one."""

from __future__ import annotations

import os

import torch


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1", "mps"), else CUDA, then Apple MPS, then the CPU.

    A named device that this machine lacks is an error now, not a crash in the first trial.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use cpu, cuda, cuda:N or mps") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU here "
                             f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} asked for, but there are only {torch.cuda.device_count()} CUDA GPUs")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} asked for, but Apple MPS is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r} is not supported: use cpu, cuda, cuda:N or mps")
    return device


def threads_per_worker(workers: int) -> int:
    """CPU threads for each of `workers` concurrent trainings, so together they fit the cores.

    Each worker thread's operations get their own team of intra-op threads; without a cap, N
    workers each take every core and spend their time contending for them.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))
