"""Where and how computation runs: the device, the thread count, and what the machine is.

Stages and commands call `set_threads` once at start and pass `resolve_device(...)` down; nothing
here keeps state of its own (torch's thread count is torch's).
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from typing import Literal

import torch
from threadpoolctl import threadpool_limits

from emosteer.constants import AMPS, DEVICES
from emosteer.errors import EmosteerError

Device = Literal["auto", "cpu", "cuda"]
Amp = Literal["off", "bf16", "fp16"]


def resolve_device(name: str) -> torch.device:
    """`auto` takes CUDA where present, else the CPU; `cuda` without CUDA is refused."""
    if name not in DEVICES:
        raise EmosteerError(f"device: must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EmosteerError("device: cuda requested but torch sees no CUDA device (use auto or cpu)")
    return torch.device(name)


def set_threads(n: int) -> None:
    """Use `n` intra-op threads in torch and in BLAS (numpy/scipy) for this process."""
    if n < 1:
        raise EmosteerError(f"threads: must be >= 1, got {n}")
    torch.set_num_threads(n)
    threadpool_limits(limits=n)


def check_amp(device: torch.device, amp: str) -> None:
    """Refuse mixed precision that cannot run here: any `amp` on the CPU (CPU bf16 autocast ran at
    0.2-0.64x float32's speed on an AVX-512 CPU without AVX512-BF16/AMX, so it is not offered:
    docs/model.md, "Mixed precision on the CPU"), `bf16` on a GPU without bfloat16."""
    if amp not in AMPS:
        raise EmosteerError(f"amp: must be one of {', '.join(AMPS)}, got {amp!r}")
    if amp == "off":
        return
    if device.type != "cuda":
        raise EmosteerError(
            f"amp: {amp} is mixed precision on CUDA, and this run computes on the "
            f"{device.type} (set amp: off, or device: cuda on a GPU machine)"
        )
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        raise EmosteerError(
            "amp: bf16 needs a GPU with bfloat16 (compute capability 8.0 or newer); use amp: fp16 or off"
        )


@contextlib.contextmanager
def autocast(device: torch.device, amp: str) -> Iterator[None]:
    """Mixed precision on CUDA (`bf16`/`fp16`, refused where it cannot run: `check_amp`); `off`
    computes in float32."""
    check_amp(device, amp)
    if amp == "off":
        yield
        return
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(threads: int) -> dict[str, str | int]:
    """What decides the float results: CPU model, the ISA oneDNN/ATen dispatch to, torch, threads.

    Trained weights differ between ISAs (AVX2 vs AVX-512) and thread counts; verdicts must not.
    """
    return {
        "cpu": cpu_model(),
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "threads": threads,
    }
