"""Run one job per seed (or per seed and part), in `workers` parallel processes of `threads` threads
each.

Seeds are an axis of the pipeline: each stage runs its per-seed job for every seed in params. A
job's floats depend on its thread count (and the CPU), never on how many workers run beside it, so
`workers` is a speed knob only. Workers are spawned (not forked: a forked OpenMP runtime can hang)
once per stage and reused for each of its phases; a job's EmosteerError travels back as itself, so
the stage still fails with one line. A worker whose stage process dies (`kill PID`, which unlike
Ctrl-C reaches only that process) exits within a second instead of finishing its seed beside the
next run. Ctrl-C (SIGINT to the whole process group) and SIGTERM are the stage process's to handle
(emosteer.errors.run): workers ignore SIGINT, and when the stage is stopped it sends SIGTERM to its
workers instead of waiting for their seeds; a worker stopped mid-job first lets the job's writers
remove their temporary files.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from types import TracebackType
from typing import Any, TypeVar

from tqdm import tqdm

from emosteer.errors import Stopped, command_label, print_log_lines, raise_stopped
from emosteer.runtime import set_threads

T = TypeVar("T")

PARENT_POLL_S = 0.5  # how often a worker checks that its stage process is still there


class SeedPool:
    """`with SeedPool(seeds, workers, threads) as pool: pool.map(job, *args, desc=...)`."""

    def __init__(self, seeds: Sequence[int], workers: int, threads: int) -> None:
        self.seeds = list(seeds)
        self.threads = threads
        self.workers = min(workers, len(self.seeds))
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> SeedPool:
        if self.workers > 1:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.threads, os.getpid(), command_label()),
            )
        else:
            set_threads(self.threads)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._executor is not None:
            if kind is not None and not issubclass(kind, Exception):  # stopped: SIGTERM or Ctrl-C
                for child in multiprocessing.active_children():
                    child.terminate()
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def map(self, job: Callable[..., T], *args: Any, desc: str) -> list[T]:
        """[job(seed, *args) for seed in seeds] in seed order; `job` is a module-level function.

        The bar counts finished seeds (jobs keep their own bars off: they would interleave).
        """
        return self._run(job, [(seed,) for seed in self.seeds], args, desc, "seed")

    def map_parts(self, job: Callable[..., T], parts: Sequence[Any], *args: Any, desc: str) -> list[list[T]]:
        """[[job(seed, part, *args) for part in parts] for seed in seeds]: one task per (seed,
        part), so 5 seeds split into k parts each spread over the workers without the last round
        leaving a core idle. The caller chooses parts whose results do not depend on the split."""
        flat = self._run(job, [(seed, part) for seed in self.seeds for part in parts], args, desc, "task")
        k = len(parts)
        return [flat[i * k : (i + 1) * k] for i in range(len(self.seeds))]

    def _run(
        self, job: Callable[..., T], heads: list[tuple[Any, ...]], args: tuple[Any, ...], desc: str, unit: str
    ) -> list[T]:
        """[job(*head, *args) for head in heads] in order, serially or over the workers."""
        with tqdm(total=len(heads), desc=desc, unit=unit) as bar:
            if self._executor is None:
                out = []
                for head in heads:
                    out.append(job(*head, *args))
                    bar.update()
                return out
            futures = {self._executor.submit(_in_worker, job, *head, *args): i for i, head in enumerate(heads)}
            results: list[Any] = [None] * len(heads)
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
            return results


def _start_worker(threads: int, parent: int, label: str | None) -> None:
    """A worker's initialiser: its thread count, its signals, its log lines (as its stage prints
    them), and a watcher that ends it with its stage."""
    set_threads(threads)
    if label is not None:
        print_log_lines(label)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the stage handles it
    signal.signal(signal.SIGTERM, _exit_quietly)
    threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()


def _exit_quietly(signum: int, frame: object) -> None:
    """SIGTERM to an idle worker: nothing to clean up, no traceback."""
    os._exit(128 + signum)


def _in_worker(job: Callable[..., T], *call: Any) -> T:
    """`job(*call)` in a worker; SIGTERM during it raises Stopped, so every `finally` of the job
    runs (its writers remove their temp files) before the worker exits."""
    signal.signal(signal.SIGTERM, raise_stopped)
    try:
        return job(*call)
    except Stopped as exc:
        os._exit(128 + exc.signum)
    finally:
        signal.signal(signal.SIGTERM, _exit_quietly)


def _exit_without(parent: int) -> None:
    """Exit the process once `parent` is no longer its parent (it died and we were re-parented)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # mid-job: no cleanup to run, and the stage that wanted the result is gone


def map_seeds(
    job: Callable[..., T], seeds: Sequence[int], *args: Any, workers: int, threads: int, desc: str
) -> list[T]:
    """One `SeedPool.map` in a pool of its own."""
    with SeedPool(seeds, workers, threads) as pool:
        return pool.map(job, *args, desc=desc)
