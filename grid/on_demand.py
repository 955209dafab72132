"""The hot-spot analysis's heavy libraries, imported by the first analysis, its compiled kernels kept on disk.

Imported at start-up, esda, libpysal and scipy.stats cost every API process ~230 MB (libpysal
brings scikit-learn, numba and llvmlite), and compiling esda's permutation kernel ~210 MB more and
~20 s of a core, though only a planner's analyses use them: an API process that never analyses now
carries none of it. numba keeps the compiled kernels in its cache (beside esda's sources, else the
user's cache directory): ``compile_apart`` compiles them in a short-lived process of its own (each
API process at its start, off its event loop), whose memory is returned when it ends, and the first
analysis of every process loads them instead of compiling. What the import built is then frozen out
of the garbage collector's way, as start-up's heap is (``api.app``): each full collection would
otherwise walk it, pausing requests.
"""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
import threading
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from libpysal.weights import W

_lock = threading.Lock()
_loaded: dict[str, ModuleType] = {}


def _load() -> dict[str, ModuleType]:
    with _lock:  # two first analyses at once: one imports, the other waits for it
        if not _loaded:
            import esda
            import libpysal.weights
            import scipy.stats
            from numba.core.registry import CPUDispatcher

            # not compute_chunk: it takes the statistic's kernel as an argument, and numba cannot keep such a
            # function (saving its index fails once another process has: "underlying object has vanished")
            for module in (esda.crand, esda.getisord):
                for kernel in vars(module).values():
                    if isinstance(kernel, CPUDispatcher) and kernel is not esda.crand.compute_chunk:
                        with contextlib.suppress(RuntimeError):  # nowhere writable to cache: compiled here, as before
                            kernel.enable_caching()
            gc.collect()
            gc.freeze()
            _loaded.update(esda=esda, weights=libpysal.weights, stats=scipy.stats)
        return _loaded


def esda() -> ModuleType:
    """The esda package."""
    return _load()["esda"]


def weights(neighbours: dict[int, list[int]]) -> W:
    """libpysal's weights over ``neighbours`` (each id's list of neighbouring ids)."""
    return _load()["weights"].W(neighbours, silence_warnings=True)


def kendalltau(x: Any, y: Any) -> tuple[float, float]:
    """Kendall's tau of ``x`` and ``y`` and its p-value (scipy.stats)."""
    result = _load()["stats"].kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


@cache  # once a process: a test session starts many apps
def compile_apart() -> None:
    """esda's kernels compiled into numba's cache by a process of their own (found there: loaded, in seconds)."""
    subprocess.run([sys.executable, "-c", "from grid.hotspots import warm_up; warm_up()"], check=True, timeout=600)
