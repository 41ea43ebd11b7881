"""Run one job per seed, in `workers` parallel processes of `threads` threads each.

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


def map_seeds(job: Callable[..., T], seeds: Sequence[int], *args: Any, workers: int, threads: int,
              desc: str) -> list[T]:
    """One `SeedPool.map` in a pool of its own."""
    with SeedPool(seeds, workers, threads) as pool:
        return pool.map(job, *args, desc=desc)
