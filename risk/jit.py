"""The risk engine's numba settings, in one place.

Every kernel in risk/ is compiled through these decorators so that the choices below hold
everywhere:

- ``cache=True``: compiled code is written to ``__pycache__`` and reused by the next process
  (first call in a fresh checkout ~seconds, later processes ~milliseconds).
- ``error_model="numpy"``: a division by zero gives inf/NaN instead of raising. The kernels
  never divide by zero on validated input, and the Python error model's checks would stop
  LLVM from vectorising the loops.
- ``fastmath={"contract"}`` only: lets LLVM fuse ``a * b + c`` into one FMA (one rounding
  instead of two, so never less accurate). The other fast-math flags are unsafe here: ``nnan``
  and ``ninf`` would break the NaN propagation the implied-vol solver relies on, and
  ``reassoc`` would undo the Cody-Waite range reduction in ``risk.special.fast_exp``.
- ``nogil=True``: the kernels touch no Python objects, so they release the GIL; the risk
  committee's analysis then runs on a worker thread beside the simulation's main loop.
  Parallel kernels launched from two threads at once need a thread-safe layer (omp or tbb,
  see `threadsafe_layer`); numba's fallback "workqueue" layer would abort the process.
- no explicit signatures: the kernels are compiled lazily for the types they are called with
  (read-only float64 arrays, and float64 scalars or arrays for the rates), then cached.

Each kernel is one serial loop over options ``start..stop`` (its body vectorised by LLVM),
compiled once, plus two thin entry points: ``serial`` runs it over all options, ``parallel``
runs it on chunks of `CHUNK` options spread over numba's threads with ``prange``. Compiling
the loop once rather than into a ``parallel=True`` function keeps the parfor passes small
(about half the first-compile time). The bounds are unsigned (`whole`, `chunk`): with signed
ones numba would wrap negative indices on every access, and that stops the vectorising.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
from llvmlite import ir
from numba import types as nbtypes
from numba.extending import intrinsic, overload

JIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "fastmath": {"contract"},
    "nogil": True,
}
PARALLEL_MIN_SIZE = 20_000  # below this, thread start-up costs more than it saves


def jit(fn: Any) -> Any:
    """A serial function over arrays (e.g. an input check) with the settings above."""
    return numba.njit(**JIT_OPTIONS)(fn)


def scalar(fn: Any) -> Any:
    """A small pure scalar helper, inlined into the kernels that call it.

    Inlining at numba's level (``inline="always"``) is what lets LLVM see one loop body with
    no calls, and so vectorise it.
    """
    return numba.njit(inline="always", **JIT_OPTIONS)(fn)


def parallel_jit(fn: Any) -> Any:
    """An entry point that spreads chunks over threads (``prange``), settings as `jit`."""
    return numba.njit(parallel=True, **JIT_OPTIONS)(fn)


@numba.njit(parallel=True, cache=True)
def _touch_threads(x: Any) -> Any:  # pragma: no cover - runs compiled
    total = 0.0
    for i in numba.prange(x.size):
        total += x[i]
    return total


def threadsafe_layer() -> bool:
    """True when parallel kernels may be launched from several threads at once (numba's
    threading layer, loaded by a first parallel launch here if none ran yet, is omp or
    tbb rather than workqueue)."""
    import numpy as np

    _touch_threads(np.ones(4))
    return bool(numba.threading_layer() != "workqueue")


CHUNK = 16_384  # options per parallel task: large enough to amortise, small enough to balance


@scalar
def whole(n: int) -> tuple[Any, Any]:
    """Unsigned loop bounds (0, n)."""
    return numba.uint64(0), numba.uint64(n)


@scalar
def n_chunks(n: int) -> int:
    """How many `CHUNK`-sized pieces cover n options."""
    return (n + CHUNK - 1) // CHUNK


@scalar
def chunk(c: int, n: int) -> tuple[Any, Any]:
    """Unsigned loop bounds of chunk c of n options."""
    return numba.uint64(c * CHUNK), numba.uint64(min(n, (c + 1) * CHUNK))


class Kernel(NamedTuple):
    """A kernel's two entry points, with the same arguments."""

    serial: Any
    parallel: Any

    def pick(self, n: int, parallel: bool | None) -> Any:
        """The parallel one for ``parallel=True``, or for ``None`` and n large enough."""
        use_parallel = n >= PARALLEL_MIN_SIZE if parallel is None else parallel
        return self.parallel if use_parallel else self.serial


# --- bit casts (what the hand-written exp and log need to build and split floats) ---


@intrinsic
def int_bits_as_float(typingctx: Any, bits: Any) -> Any:
    """Reinterpret the 64 bits of an int64 as a float64 (no conversion)."""
    sig = nbtypes.float64(nbtypes.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def float_bits_as_int(typingctx: Any, x: Any) -> Any:
    """Reinterpret the 64 bits of a float64 as an int64 (no conversion)."""
    sig = nbtypes.int64(nbtypes.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


# --- per-option or shared values ---


def at(values: Any, i: int) -> float:
    """``values[i]`` for an array, ``values`` itself for a scalar (e.g. one rate for all)."""
    raise NotImplementedError("only callable from numba-compiled code")


@overload(at, inline="always", jit_options={"cache": True})
def _at(values, i):  # type: ignore[no-untyped-def]  # unannotated: numba compares signatures
    if isinstance(values, nbtypes.Array):
        return lambda values, i: values[i]
    return lambda values, i: values
