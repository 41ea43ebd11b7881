"""Suite-wide settings: a fixed thread count, so float results and timings do not depend on how
many cores the machine has or how busy it is (torch's default is every core)."""

from __future__ import annotations

from emosteer.runtime import set_threads

SUITE_THREADS = 1

set_threads(SUITE_THREADS)
