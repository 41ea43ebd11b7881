"""Run one job per seed (or per seed and part), in `workers` parallel processes of `threads` threads
each.

Seeds are an axis of the pipeline: each stage runs its per-seed job for every seed in params. A
job's floats depend on its thread count (and the CPU), never on how many workers run beside it, so
`workers` is a speed knob only. Workers are spawned (not forked: a forked OpenMP runtime can hang)
once per stage and reused for each of its phases; a job's EmosteerError travels back as itself, so
the stage still fails with one line.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from types import TracebackType
from typing import Any, TypeVar

from tqdm import tqdm

from emosteer.runtime import set_threads

T = TypeVar("T")


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
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=set_threads, initargs=(self.threads,))
        else:
            set_threads(self.threads)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def map(self, job: Callable[..., T], *args: Any, desc: str) -> list[T]:
        """[job(seed, *args) for seed in seeds] in seed order; `job` is a module-level function.

        The bar counts finished seeds (jobs keep their own bars off: they would interleave).
        """
        with tqdm(total=len(self.seeds), desc=desc, unit="seed") as bar:
            if self._executor is None:
                out = []
                for seed in self.seeds:
                    out.append(job(seed, *args))
                    bar.update()
                return out
            futures = {self._executor.submit(job, seed, *args): i for i, seed in enumerate(self.seeds)}
            results: list[Any] = [None] * len(self.seeds)
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
            return results

    def map_parts(self, job: Callable[..., T], parts: Sequence[Any], *args: Any,
                  desc: str) -> list[list[T]]:
        """[[job(seed, part, *args) for part in parts] for seed in seeds]: one task per (seed,
        part), so 5 seeds split into k parts each spread over the workers without the last round
        leaving a core idle. The caller chooses parts whose results do not depend on the split."""
        tasks = [(seed, part) for seed in self.seeds for part in parts]
        with tqdm(total=len(tasks), desc=desc, unit="task") as bar:
            if self._executor is None:
                flat = []
                for seed, part in tasks:
                    flat.append(job(seed, part, *args))
                    bar.update()
            else:
                futures = {self._executor.submit(job, seed, part, *args): i
                           for i, (seed, part) in enumerate(tasks)}
                flat = [None] * len(tasks)
                for future in as_completed(futures):
                    flat[futures[future]] = future.result()
                    bar.update()
        k = len(parts)
        return [flat[i * k:(i + 1) * k] for i in range(len(self.seeds))]


def map_seeds(job: Callable[..., T], seeds: Sequence[int], *args: Any, workers: int, threads: int,
              desc: str) -> list[T]:
    """One `SeedPool.map` in a pool of its own."""
    with SeedPool(seeds, workers, threads) as pool:
        return pool.map(job, *args, desc=desc)
