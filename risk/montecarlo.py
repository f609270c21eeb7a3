"""Monte Carlo kernels for the tail models of risk.tail_models (numba, float64).

Every kernel simulates log-price paths x_0 = 0, x_1, ..., x_n (n steps of dt years) and
writes, per path, four numbers into ``out`` (4, n_paths):

    out[0] = x_n               terminal log return
    out[1] = min_k x_k         minimum of the discrete log path (<= 0: it starts at 0)
    out[2] = max_k x_k         maximum (>= 0)
    out[3] = sigma_n / sigma_0 final over initial instantaneous volatility (1 if constant)

and, if ``paths`` has rows, the whole path into ``paths`` (n_paths, n + 1). The streaming form
(``paths`` empty) never stores a path, so its memory is O(n_paths) for any n.

Randomness and reproducibility: the paths are cut into ``k = min(STREAMS, n_paths)`` fixed
chunks (chunk c is paths c n / k .. (c + 1) n / k - 1), and chunk c draws only from
generator c of ``SeedSequence(seed).spawn(k)``. Which thread runs a chunk, and when, cannot
change a number: the serial and parallel entry points give bit-identical arrays.

The generators are numpy ``Generator(SFC64)`` (SFC64 gives 64 random bits in ~2.6 ns here,
PCG64 in ~4.4 ns). Normals come from our own ziggurat (Marsaglia and Tsang's method, 128
layers) fed with 64-bit words drawn in blocks by ``rng.integers``: each word gives two
normals (two 31-bit halves: 7 bits pick the layer, 1 the sign, 23 the position in the layer),
about 3 ns per normal against ~10 ns for ``rng.standard_normal()`` called per step inside
numba. The 23-bit position quantises a normal to 2^-23 of its layer's width (< 5e-7 in
absolute terms), far below any Monte Carlo error. The rare draws that fall outside a layer's
inner rectangle (1.2%) and all other variates (jump sizes and waiting times, gamma variates
of the Student-t) use the Generator's own methods, in a fixed order per chunk.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numba
import numpy as np
from numba import typed

from risk.jit import Kernel, jit, parallel_jit, scalar

# the parallel entry points turn prange's uint64 chunk counter (< 64) into the signed index
# a typed list takes; numba warns about that cast when it compiles them
warnings.filterwarnings(
    "ignore", "unsafe cast from uint64 to int64", category=numba.NumbaTypeSafetyWarning
)

STREAMS = 64  # chunks (and generators) per simulation: enough to balance 2..16 threads
BLOCK = 2048  # normals drawn per refill of a chunk's buffer (1024 random words, 8 KB)
_MAX_WORD = 9223372036854775807  # rng.integers(0, _MAX_WORD): 63 uniform bits per draw


def generators(seed: int | None, n_streams: int) -> Any:
    """The chunk generators, ``Generator(SFC64(s))`` for s in SeedSequence(seed).spawn(k), as
    a numba typed List (a Python list would be a deprecated "reflected list" argument)."""
    return typed.List(
        [
            np.random.Generator(np.random.SFC64(s))
            for s in np.random.SeedSequence(seed).spawn(n_streams)
        ]
    )


def n_streams(n_paths: int) -> int:
    """How many chunks (generators) n_paths paths are cut into."""
    return max(1, min(STREAMS, n_paths))


# --- the ziggurat ---


def _ziggurat_tables(n: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer tables for f(x) = exp(-x^2 / 2) on x >= 0 with n layers of equal area v.

    x_1 = r (where the tail starts), x_{i+1} = f^-1(f(x_i) + v / x_i), and r is chosen so the
    top layer closes (x_n = 0). Layer 0 is the rectangle [0, r] x [0, f(r)] plus the tail,
    given the width x_0 = v / f(r). Returns (scale, accept, fx): x = j * scale[i] for the
    23-bit position j; the draw is inside the inner rectangle if j < accept[i]; fx[i] = f(x_i).
    """

    def chain(r: float) -> tuple[float, list[float]]:
        v = r * math.exp(-0.5 * r * r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
        x = [v / math.exp(-0.5 * r * r), r]
        for i in range(2, n):
            y = math.exp(-0.5 * x[-1] ** 2) + v / x[-1]
            if y >= 1.0:  # r too small: the layers reach the top before n of them
                return 1.0 + (n - i), x
            x.append(math.sqrt(-2.0 * math.log(y)))
        return math.exp(-0.5 * x[-1] ** 2) + v / x[-1] - 1.0, x

    lo, hi = 2.0, 5.0  # residual > 0 at lo, < 0 at hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if chain(mid)[0] > 0.0:
            lo = mid
        else:
            hi = mid
    x = np.array(chain(hi)[1][:n] + [0.0])
    scale = x[:n] * 2.0**-23
    accept = np.floor(x[1:] / x[:n] * 2.0**23).astype(np.int64)
    return scale, accept, np.exp(-0.5 * x * x)


_ZIG_SCALE, _ZIG_ACCEPT, _ZIG_F = _ziggurat_tables()
_ZIG_R = float(_ZIG_SCALE[1] * 2.0**23)  # start of the tail


@jit
def _ziggurat_slow(rng: Any, i: int, j: int) -> float:
    """|z| for a draw (layer i, position j) outside the layer's inner rectangle: the wedge
    test, or the tail beyond r (Marsaglia's exponential method), resampling until accepted."""
    while True:
        x = j * _ZIG_SCALE[i]
        if j < _ZIG_ACCEPT[i]:
            return x
        if i == 0:
            while True:
                a = -math.log1p(-rng.random()) / _ZIG_R
                b = -math.log1p(-rng.random())
                if 2.0 * b > a * a:
                    return _ZIG_R + a
        y = _ZIG_F[i] + rng.random() * (_ZIG_F[i + 1] - _ZIG_F[i])
        if y < math.exp(-0.5 * x * x):
            return x
        word = int(rng.random() * 2147483648.0)  # a fresh 31-bit draw (sign kept)
        i = word & 127
        j = word >> 8


@scalar
def _zig_half(half: int) -> tuple[float, bool]:
    """The fast-path normal of a 31-bit half word, and whether it was outside the inner
    rectangle of its layer (then it must be redrawn by `_ziggurat_slow`)."""
    i = half & 127
    j = (half >> 8) & 0x7FFFFF
    x = j * _ZIG_SCALE[i]
    return (-x if half & 128 else x), j >= _ZIG_ACCEPT[i]


@jit
def _fast_pass(words: np.ndarray, buf: np.ndarray, marks: np.ndarray) -> int:
    """Fast-path normals of every half word into buf; marks[k] = which halves of word k
    were outside their inner rectangle (bit 0 low, bit 1 high); returns how many words."""
    n_marked = 0
    for k in range(words.shape[0]):
        w = words[k]
        buf[2 * k], low_out = _zig_half(w & 0x7FFFFFFF)
        buf[2 * k + 1], high_out = _zig_half(w >> 32)
        mark = low_out + 2 * high_out
        marks[k] = mark
        n_marked += mark > 0
    return n_marked


@jit
def fill_normals(rng: Any, buf: np.ndarray) -> None:
    """Fill buf (even length) with standard normals, two per 63-bit word.

    The first loop takes every draw's fast path and marks the words with a draw outside its
    inner rectangle (1.2% of draws); it has no branches and no Generator calls, so LLVM
    vectorises it (2x faster than with the rare redraws inside it). The second loop redraws
    the marked ones, in order, so the stream stays a function of the generator's state.
    """
    n_words = buf.shape[0] // 2
    words = rng.integers(0, _MAX_WORD, size=n_words)
    marks = np.empty(n_words, dtype=np.int8)
    if _fast_pass(words, buf, marks) == 0:
        return
    for k in range(n_words):
        if marks[k] == 0:
            continue
        for h in range(2):
            if marks[k] & (1 << h):
                half = (words[k] >> (32 * h)) & 0x7FFFFFFF
                x = _ziggurat_slow(rng, half & 127, (half >> 8) & 0x7FFFFF)
                buf[2 * k + h] = -x if half & 128 else x


@scalar
def _next_normal(rng: Any, buf: np.ndarray, pos: int) -> tuple[float, int]:
    """The next normal of a chunk's buffered stream, and the new position."""
    if pos == buf.shape[0]:
        fill_normals(rng, buf)
        pos = 0
    return buf[pos], pos + 1


@scalar
def _bounds(c: int, n: int, k: int) -> tuple[int, int]:
    return c * n // k, (c + 1) * n // k


# --- jump diffusion (GBM: lam = 0) ---


@jit
def _jump_diffusion_chunk(rng, lo, hi, n_steps, drift, vol, jump_rate, mu_j, sigma_j, out, paths):  # type: ignore[no-untyped-def]
    """Paths lo..hi-1 of x_{k+1} = x_k + drift + vol z_k + (sum of the jumps in step k).

    drift = mu dt and vol = sigma sqrt(dt) per step; jumps N(mu_j, sigma_j^2) arrive at rate
    jump_rate per step (lam dt). The waiting time to the next jump is an exponential draw (in
    steps), so the counts per step are exactly Poisson and the inner loop, which runs up to
    the step before the next jump, draws nothing from the Generator (see `fill_normals`).
    """
    store = paths.shape[0] > 0
    buf = np.empty(BLOCK)
    pos = BLOCK
    inv_rate = 1.0 / jump_rate if jump_rate > 0.0 else math.inf
    for p in range(lo, hi):
        x = 0.0
        x_min = 0.0
        x_max = 0.0
        next_jump = rng.standard_exponential() * inv_rate if jump_rate > 0.0 else math.inf
        if store:
            paths[p, 0] = 0.0
        s = 0
        while s < n_steps:
            if pos == BLOCK:
                fill_normals(rng, buf)
                pos = 0
            m = min(n_steps - s, BLOCK - pos)
            jump = next_jump <= s + m  # step k covers (k, k + 1] in units of steps
            if jump:
                m = max(int(math.ceil(next_jump)) - 1, s) - s  # the steps before the jump's
            for k in range(m):
                x += drift + vol * buf[pos + k]
                x_min = min(x_min, x)
                x_max = max(x_max, x)
                if store:
                    paths[p, s + k + 1] = x
            pos += m
            s += m
            if jump:
                x += drift + vol * buf[pos]
                pos += 1
                s += 1
                while next_jump <= s:
                    x += mu_j + sigma_j * rng.standard_normal()
                    next_jump += rng.standard_exponential() * inv_rate
                x_min = min(x_min, x)
                x_max = max(x_max, x)
                if store:
                    paths[p, s] = x
        out[0, p] = x
        out[1, p] = x_min
        out[2, p] = x_max
        out[3, p] = 1.0


@jit
def _jump_diffusion_serial(gens, n_steps, drift, vol, jump_rate, mu_j, sigma_j, out, paths):  # type: ignore[no-untyped-def]
    k, n = len(gens), out.shape[1]
    for c in range(k):
        lo, hi = _bounds(c, n, k)
        _jump_diffusion_chunk(
            gens[c], lo, hi, n_steps, drift, vol, jump_rate, mu_j, sigma_j, out, paths
        )


@parallel_jit
def _jump_diffusion_parallel(gens, n_steps, drift, vol, jump_rate, mu_j, sigma_j, out, paths):  # type: ignore[no-untyped-def]
    k, n = len(gens), out.shape[1]
    for u in numba.prange(k):
        c = np.int64(u)  # prange counts in uint64; the list wants a signed index
        lo, hi = _bounds(c, n, k)
        _jump_diffusion_chunk(
            gens[c], lo, hi, n_steps, drift, vol, jump_rate, mu_j, sigma_j, out, paths
        )


JUMP_DIFFUSION = Kernel(_jump_diffusion_serial, _jump_diffusion_parallel)


# --- GARCH(1,1) with standardised Student-t innovations ---


@jit
def _garch_chunk(rng, lo, hi, n_steps, mu, omega, alpha, beta, nu, h0, out, paths):  # type: ignore[no-untyped-def]
    """Paths lo..hi-1 of r_k = mu + sqrt(h_k) z_k, h_{k+1} = omega + alpha (r_k - mu)^2 + beta h_k.

    z_k = N sqrt((nu - 2) / (2 G)), N standard normal, G ~ Gamma(nu / 2): a Student-t with nu
    degrees of freedom scaled to unit variance. h0[p] (or h0[0] for all) is h_1 of path p.
    """
    store = paths.shape[0] > 0
    buf = np.empty(BLOCK)
    pos = BLOCK
    half_nu = 0.5 * nu
    t_scale = math.sqrt(0.5 * (nu - 2.0))
    for p in range(lo, hi):
        h_first = h0[p] if h0.shape[0] > 1 else h0[0]
        h = h_first
        x = 0.0
        x_min = 0.0
        x_max = 0.0
        if store:
            paths[p, 0] = 0.0
        for s in range(n_steps):
            z, pos = _next_normal(rng, buf, pos)
            eps = math.sqrt(h) * z * t_scale / math.sqrt(rng.standard_gamma(half_nu))
            x += mu + eps
            h = omega + alpha * eps * eps + beta * h
            x_min = min(x_min, x)
            x_max = max(x_max, x)
            if store:
                paths[p, s + 1] = x
        out[0, p] = x
        out[1, p] = x_min
        out[2, p] = x_max
        out[3, p] = math.sqrt(h / h_first)


@jit
def _garch_serial(gens, n_steps, mu, omega, alpha, beta, nu, h0, out, paths):  # type: ignore[no-untyped-def]
    k, n = len(gens), out.shape[1]
    for c in range(k):
        lo, hi = _bounds(c, n, k)
        _garch_chunk(gens[c], lo, hi, n_steps, mu, omega, alpha, beta, nu, h0, out, paths)


@parallel_jit
def _garch_parallel(gens, n_steps, mu, omega, alpha, beta, nu, h0, out, paths):  # type: ignore[no-untyped-def]
    k, n = len(gens), out.shape[1]
    for u in numba.prange(k):
        c = np.int64(u)  # prange counts in uint64; the list wants a signed index
        lo, hi = _bounds(c, n, k)
        _garch_chunk(gens[c], lo, hi, n_steps, mu, omega, alpha, beta, nu, h0, out, paths)


GARCH = Kernel(_garch_serial, _garch_parallel)


@jit
def garch_variances(eps: np.ndarray, omega: float, alpha: float, beta: float, h1: float):  # type: ignore[no-untyped-def]
    """The conditional variances h_1..h_n of residuals eps (h_1 given): the likelihood's loop."""
    h = np.empty(eps.shape[0])
    h[0] = h1
    for k in range(1, eps.shape[0]):
        h[k] = omega + alpha * eps[k - 1] * eps[k - 1] + beta * h[k - 1]
    return h


# --- Bates: Heston variance + log-normal jumps ---


@jit
def _bates_chunk(
    rng, lo, hi, n_steps, dt, mu, kappa, theta, xi, rho, v0, jump_rate, mu_j, sigma_j, out, paths
):  # type: ignore[no-untyped-def]
    """Paths lo..hi-1 of the Bates model, one step of dt years:

        x_{k+1} = x_k + mu dt + sqrt(v_k+ dt) z1 + (jumps, as `_jump_diffusion_chunk`)
        v_{k+1} = theta + (v_k+ - theta) e^(-kappa dt) + xi sqrt(v_k+ dt) (rho z1 + rho' z2)

    with v+ = max(v, 0) and rho' = sqrt(1 - rho^2): Euler with full truncation, except that
    the mean reversion is integrated exactly (so E[v] is exact on the grid while v >= 0).
    """
    store = paths.shape[0] > 0
    buf = np.empty(BLOCK)
    pos = BLOCK
    decay = math.exp(-kappa * dt)
    rho_perp = math.sqrt(1.0 - rho * rho)
    inv_rate = 1.0 / jump_rate if jump_rate > 0.0 else math.inf
    for p in range(lo, hi):
        v_first = v0[p] if v0.shape[0] > 1 else v0[0]
        v = v_first
        x = 0.0
        x_min = 0.0
        x_max = 0.0
        next_jump = rng.standard_exponential() * inv_rate if jump_rate > 0.0 else math.inf
        if store:
            paths[p, 0] = 0.0
        for s in range(n_steps):
            z1, pos = _next_normal(rng, buf, pos)
            z2, pos = _next_normal(rng, buf, pos)
            vp = max(v, 0.0)
            sd = math.sqrt(vp * dt)
            x += mu * dt + sd * z1
            while next_jump <= s + 1.0:
                x += mu_j + sigma_j * rng.standard_normal()
                next_jump += rng.standard_exponential() * inv_rate
            v = theta + (vp - theta) * decay + xi * sd * (rho * z1 + rho_perp * z2)
            x_min = min(x_min, x)
            x_max = max(x_max, x)
            if store:
                paths[p, s + 1] = x
        out[0, p] = x
        out[1, p] = x_min
        out[2, p] = x_max
        out[3, p] = math.sqrt(max(v, 0.0) / v_first)


@jit
def _bates_serial(
    gens, n_steps, dt, mu, kappa, theta, xi, rho, v0, jump_rate, mu_j, sigma_j, out, paths
):  # type: ignore[no-untyped-def]
    k, n = len(gens), out.shape[1]
    for c in range(k):
        lo, hi = _bounds(c, n, k)
        _bates_chunk(
            gens[c],
            lo,
            hi,
            n_steps,
            dt,
            mu,
            kappa,
            theta,
            xi,
            rho,
            v0,
            jump_rate,
            mu_j,
            sigma_j,
            out,
            paths,
        )


@parallel_jit
def _bates_parallel(
    gens, n_steps, dt, mu, kappa, theta, xi, rho, v0, jump_rate, mu_j, sigma_j, out, paths
):  # type: ignore[no-untyped-def]
    k, n = len(gens), out.shape[1]
    for u in numba.prange(k):
        c = np.int64(u)  # prange counts in uint64; the list wants a signed index
        lo, hi = _bounds(c, n, k)
        _bates_chunk(
            gens[c],
            lo,
            hi,
            n_steps,
            dt,
            mu,
            kappa,
            theta,
            xi,
            rho,
            v0,
            jump_rate,
            mu_j,
            sigma_j,
            out,
            paths,
        )


BATES = Kernel(_bates_serial, _bates_parallel)
NO_PATHS = np.empty((0, 0))  # the `paths` argument of the streaming form
