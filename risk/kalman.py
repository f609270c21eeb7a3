"""Kalman filter, RTS smoother and noise fit for one noisy series, e.g. the ATM implied vol.

The model is a local level (a random walk seen through noise):

    x_i = x_(i-1) + eta_i,   eta_i ~ N(0, q dt_i)       (state: the true ATM vol)
    y_i = x_i + eps_i,       eps_i ~ N(0, r_i)           (observation: the quoted mid)

q is the process variance per unit of time (so irregular steps dt_i add variance in
proportion), r_i the observation variance (one value, or one per observation, e.g. from the
bid-ask spread). A missing observation (NaN) only predicts. With p = the state variance:

    predict:  m- = m,                 p- = p + q dt_i
    update:   v = y_i - m-,           s = p- + r_i       (innovation and its variance)
              m = m- + (p- / s) v,    p = (1 - p- / s) p- = p- r_i / s

By default the filter starts diffuse: the first observation (which must not be missing) sets
m = y_0, p = r_0, the limit of an infinitely wide prior. The log-likelihood is the sum over the
later observed points of -(ln(2 pi s) + v^2 / s) / 2 (the exact diffuse likelihood).

The Rauch-Tung-Striebel smoother runs backwards over the filter's output:

    c = p_i / p-_(i+1)
    ms_i = m_i + c (ms_(i+1) - m-_(i+1)),   ps_i = p_i + c^2 (ps_(i+1) - p-_(i+1))

`fit_noise` finds q and r by maximising the log-likelihood (scipy's L-BFGS-B over ln q, ln r,
started from the moments of the observed differences).

Units are the caller's: with vols as fractions (0.6 = 60%) q and r are in vol^2, and q is per
unit of dt (e.g. dt in years gives q in vol^2 per year).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from risk.jit import jit

ArrayLike = Any  # float, array or pandas Series


class KalmanResult(NamedTuple):
    """The filter's output, arrays of the series' length (see the module docstring).

    Before the diffuse start's first observation nothing is known: pred_mean is NaN and
    pred_var, innovation_var are inf there.
    """

    mean: np.ndarray  # filtered E[x_i | y_0..y_i]
    var: np.ndarray  # filtered Var[x_i | y_0..y_i]
    pred_mean: np.ndarray  # predicted E[x_i | y_0..y_(i-1)]
    pred_var: np.ndarray  # predicted Var[x_i | y_0..y_(i-1)]
    innovation: np.ndarray  # y_i - pred_mean_i; NaN where y_i is missing or at the diffuse start
    innovation_var: np.ndarray  # pred_var_i + r_i
    loglik: float  # sum of the innovations' Gaussian log-densities
    # the input Series' index, if any (a field named like tuple.index, which it shadows)
    index: pd.Index | None = None  # type: ignore[assignment]

    def standardised_innovations(self) -> np.ndarray:
        """v / sqrt(s) at the points that have an innovation: N(0, 1) if the model is right."""
        has = np.isfinite(self.innovation)
        return self.innovation[has] / np.sqrt(self.innovation_var[has])

    def to_frame(self) -> pd.DataFrame:
        """The arrays as columns (indexed like the input Series, if one was given)."""
        columns = ("mean", "var", "pred_mean", "pred_var", "innovation", "innovation_var")
        return pd.DataFrame({c: getattr(self, c) for c in columns}, index=self.index)


class SmoothResult(NamedTuple):
    """The smoother's output: E[x_i | all y] and its variance."""

    mean: np.ndarray
    var: np.ndarray
    index: pd.Index | None = None  # type: ignore[assignment]


class NoiseFit(NamedTuple):
    """Maximum-likelihood noise variances."""

    process_var: float  # q, per unit of dt
    obs_var: float  # r, or its multiplier of relative_obs_var
    loglik: float
    success: bool
    n_obs: int  # observations that entered the likelihood


def kalman_filter(
    obs: ArrayLike,
    process_var: float,
    obs_var: ArrayLike,
    dt: ArrayLike = 1.0,
    x0: float | None = None,
    p0: float | None = None,
) -> KalmanResult:
    """Filter a series through the local-level model (module docstring).

    Args:
        obs: observations y_i, 1-D array or Series; NaN = missing (predict only).
        process_var: q, variance added per unit of dt, >= 0.
        obs_var: r_i, > 0: one value, or one per observation (may be NaN where y_i is).
        dt: time since the previous observation (dt_0: since the prior x0), >= 0: one value
            or one per observation.
        x0, p0: prior mean and variance (>= 0) of the state before y_0; both or neither.
            Neither: the diffuse start (y_0 must then be observed).

    Returns:
        KalmanResult.

    Raises:
        ValueError: naming the field that is out of range or of the wrong shape.
    """
    y, index = _series("obs", obs)
    q, r, dt = _noise(y, process_var, obs_var, dt)
    diffuse, m0, v0 = _prior(y, x0, p0)
    out = _filter(y, q * dt, r, m0, v0, diffuse)
    mean, var, pred_mean, pred_var, innovation, innovation_var, loglik = out
    return KalmanResult(
        mean, var, pred_mean, pred_var, innovation, innovation_var, float(loglik), index
    )


def rts_smoother(result: KalmanResult) -> SmoothResult:
    """Rauch-Tung-Striebel smoothing of a `kalman_filter` result (module docstring)."""
    mean, var = result.mean.copy(), result.var.copy()
    for i in range(len(mean) - 2, -1, -1):
        p_next = result.pred_var[i + 1]
        c = var[i] / p_next if p_next > 0.0 else 0.0  # p- = 0 only for a known state
        mean[i] += c * (mean[i + 1] - result.pred_mean[i + 1])
        var[i] += c * c * (var[i + 1] - p_next)
    return SmoothResult(mean, var, result.index)


def fit_noise(
    obs: ArrayLike,
    dt: ArrayLike = 1.0,
    relative_obs_var: ArrayLike | None = None,
    x0: float | None = None,
    p0: float | None = None,
) -> NoiseFit:
    """Maximum-likelihood process and observation variances of the local-level model.

    Args:
        obs, dt, x0, p0: as `kalman_filter`.
        relative_obs_var: optional r_i / r per observation, > 0 (e.g. squared bid-ask
            spreads): then the fitted obs_var is the multiplier r.

    Returns:
        NoiseFit; q and r are searched on a log scale, so a variance that the data cannot
        tell from 0 comes out tiny rather than 0.

    Raises:
        ValueError: as `kalman_filter`, or fewer than 3 observations in the likelihood.
    """
    y, _ = _series("obs", obs)
    rel = 1.0 if relative_obs_var is None else relative_obs_var
    _, rel, dt = _noise(y, 0.0, rel, dt, obs_var_name="relative_obs_var")
    diffuse, m0, v0 = _prior(y, x0, p0)
    n_obs = int(np.count_nonzero(np.isfinite(y))) - int(diffuse)
    if n_obs < 3:
        raise ValueError(f"obs: {n_obs} observations in the likelihood, allowed range [3, inf)")
    q_start, r_start = _moment_guess(y, dt, rel)

    def negative_loglik(u: np.ndarray) -> float:
        q, r = math.exp(u[0]), math.exp(u[1])
        return -float(_filter(y, q * dt, r * rel, m0, v0, diffuse)[6])

    start = np.log([q_start, r_start])
    res = minimize(
        negative_loglik, start, method="L-BFGS-B", bounds=[(u - 30, u + 30) for u in start]
    )
    q, r = (float(v) for v in np.exp(res.x))
    return NoiseFit(q, r, -float(res.fun), bool(res.success), n_obs)


# --- helpers ---


def _moment_guess(y: np.ndarray, dt: np.ndarray, rel: np.ndarray) -> tuple[float, float]:
    """(q, r) from differences of consecutive observed points, d_j = y_j - y_(j-1):
    E d_j^2 = q (elapsed time) + r_j + r_(j-1) and E d_j d_(j+1) = -r_j (shared noise);
    each clipped to at least 1% of the mean squared difference (q: per mean gap)."""
    seen = np.flatnonzero(np.isfinite(y))
    t = np.cumsum(dt)[seen]
    d, gap = np.diff(y[seen]), np.diff(t)
    rel_seen = rel[seen]
    d2 = float(np.mean(d * d))
    r = max(-float(np.mean(d[1:] * d[:-1] / rel_seen[1:-1])), 0.01 * d2)
    noise = r * (rel_seen[1:] + rel_seen[:-1])
    elapsed = max(float(np.sum(gap)), 1e-300)
    q = max(float(np.sum(d * d - noise)), 0.01 * d2 * d.size) / elapsed
    return q, r


def _series(name: str, values: ArrayLike) -> tuple[np.ndarray, pd.Index | None]:
    index = values.index if isinstance(values, pd.Series) else None
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected numbers, got {values!r:.60}") from e
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {arr.shape}")
    if np.any(np.isinf(arr)):
        i = int(np.flatnonzero(np.isinf(arr))[0])
        raise ValueError(f"{name}[{i}] = {arr[i]} outside allowed range finite or NaN (missing)")
    return np.ascontiguousarray(arr), index


def _per_obs(
    name: str, value: ArrayLike, n: int, allowed: str, in_range: Any, nan_ok: Any
) -> np.ndarray:
    """`value` as n floats in range (NaN allowed where `nan_ok`); ValueError naming it."""
    try:
        arr = np.asarray(value.to_numpy() if isinstance(value, pd.Series) else value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected numbers, got {value!r:.60}") from e
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size != n):
        raise ValueError(f"{name}: shape {arr.shape} is neither a number nor obs's ({n},)")
    arr = np.broadcast_to(arr, (n,))
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(arr) & in_range(arr)) | (np.isnan(arr) & nan_ok)
    if not np.all(ok):
        i = int(np.flatnonzero(~ok)[0])
        shown = f"{name}[{i}]" if np.ndim(value) else name
        raise ValueError(f"{shown} = {arr[i]} outside allowed range {allowed}")
    return np.ascontiguousarray(arr)


def _noise(
    y: np.ndarray,
    process_var: float,
    obs_var: ArrayLike,
    dt: ArrayLike,
    obs_var_name: str = "obs_var",
) -> tuple[float, np.ndarray, np.ndarray]:
    n = y.size
    q = _per_obs("process_var", process_var, 1, "[0, inf)", lambda a: a >= 0.0, False)
    if np.ndim(process_var) != 0:
        raise ValueError(f"process_var: expected a number, got shape {np.shape(process_var)}")
    missing = np.isnan(y)
    r = _per_obs(
        obs_var_name, obs_var, n, "(0, inf) (NaN only where obs is)", lambda a: a > 0.0, missing
    )
    dt = _per_obs("dt", dt, n, "[0, inf)", lambda a: a >= 0.0, False)
    return float(q[0]), r, dt


def _prior(y: np.ndarray, x0: float | None, p0: float | None) -> tuple[bool, float, float]:
    """(diffuse, prior mean, prior variance)."""
    if (x0 is None) != (p0 is None):
        raise ValueError("x0, p0: give both (a prior) or neither (diffuse start)")
    if x0 is None or p0 is None:
        if np.isnan(y[0]):
            raise ValueError(
                "obs[0] = nan outside allowed range finite: the diffuse start needs the first "
                "observation (drop leading NaNs, or give x0 and p0)"
            )
        return True, math.nan, math.inf
    if not math.isfinite(x0):
        raise ValueError(f"x0 = {x0} outside allowed range finite")
    if not (math.isfinite(p0) and p0 >= 0.0):
        raise ValueError(f"p0 = {p0} outside allowed range [0, inf)")
    return False, float(x0), float(p0)


@jit
def _filter(y, step_var, obs_var, m0, p0, diffuse):  # type: ignore[no-untyped-def]
    """The filter's recursion (module docstring); step_var[i] = q dt_i. Returns (mean, var,
    pred_mean, pred_var, innovation, innovation_var, loglik)."""
    n = y.shape[0]
    mean, var = np.empty(n), np.empty(n)
    pred_mean, pred_var = np.empty(n), np.empty(n)
    innov, innov_var = np.empty(n), np.empty(n)
    m, p = m0, p0
    loglik = 0.0
    for i in range(n):
        if diffuse and i == 0:  # y_0 observed: the limit of an infinitely wide prior
            pred_mean[0], pred_var[0] = math.nan, math.inf
            innov[0], innov_var[0] = math.nan, math.inf
            m, p = y[0], obs_var[0]
            mean[0], var[0] = m, p
            continue
        p = p + step_var[i]
        pred_mean[i], pred_var[i] = m, p
        if math.isnan(y[i]):
            innov[i], innov_var[i] = math.nan, p + obs_var[i]
        else:
            v = y[i] - m
            s = p + obs_var[i]
            m = m + (p / s) * v
            p = p * (obs_var[i] / s)  # (1 - p / s) p without the cancellation
            innov[i], innov_var[i] = v, s
            loglik -= 0.5 * (math.log(2.0 * math.pi * s) + v * v / s)
        mean[i], var[i] = m, p
    return mean, var, pred_mean, pred_var, innov, innov_var, loglik
