"""Tail models for log returns: definitions, analytic moments, fitting and simulation.

Time is in years and parameters are annualised, except GARCH, whose parameters are per step
of its data (``dt``). Each model describes the log price x_t = ln(S_t / S_0):

    GBM      dx = mu dt + sigma dW
    Merton   dx = mu dt + sigma dW + J dN,        J ~ N(mu_j, sigma_j^2), N Poisson(lam)
    GARCH    r_k = mu + sqrt(h_k) z_k,            h_{k+1} = omega + alpha (r_k - mu)^2 + beta h_k
             (z_k Student-t with nu degrees of freedom scaled to unit variance)
    Bates    dx = mu dt + sqrt(v) dW1 + J dN,     dv = kappa (theta - v) dt + xi sqrt(v) dW2,
             d<W1, W2> = rho dt, jumps as Merton

mu is the drift of the log price (not of the price): E[x_T] = mu T (+ lam mu_j T with jumps).
For a risk-neutral or martingale price set mu = r - sigma^2 / 2 - lam (e^(mu_j + sigma_j^2/2) - 1)
(or with the variance in place of sigma^2); the models do not do it for you.

Each model is a frozen dataclass validated on construction (errors name the field and its
allowed range), with ``fit(log_returns, dt)``, ``moments(horizon)`` (mean, variance, skewness
and excess kurtosis of x over horizon years), ``simulate`` (whole paths, for driving prices)
and ``simulate_horizon`` (per path: terminal, min, max and vol ratio, without storing paths;
kernels and the seeding scheme in risk.montecarlo).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, NamedTuple

import numpy as np
from scipy import optimize
from scipy.linalg import expm
from scipy.special import gammaln, logsumexp

from risk import montecarlo as mc

MIN_RETURNS = 30  # fewest returns any fit accepts (Bates needs more: see BatesModel.fit)
BATES_MIN_RETURNS = 2_000  # Bates' moment fit
# A fit is only used inside these limits (fit_problems). Variance shocks that take longer
# than this to halve are not mean reversion the data can identify: GARCH's persistence is
# fitted within it, so its long-run variance stays finite with a margin.
MAX_HALF_LIFE_DAYS = 90.0
MAX_ANNUAL_VARIANCE = 25.0  # 500% annual vol: beyond any market the models are meant for
_LOG_2PI = math.log(2.0 * math.pi)


class Moments(NamedTuple):
    """Moments of the log return over a horizon."""

    mean: float
    variance: float
    skewness: float
    excess_kurtosis: float


class HorizonPaths(NamedTuple):
    """Per-path results of a streaming simulation (rows of the kernel's (4, n_paths) output)."""

    terminal: np.ndarray  # x_n, the log return over the horizon
    minimum: np.ndarray  # min over k of x_k (<= 0)
    maximum: np.ndarray  # max over k of x_k (>= 0)
    vol_ratio: np.ndarray  # final / initial instantaneous volatility (1 for GBM, Merton)


# --- validation ---


def _check_field(name: str, value: Any, lo: float, hi: float, closed: str) -> None:
    """closed: two characters, '[' or '(' then ']' or ')', the interval's ends."""
    ok = isinstance(value, int | float | np.floating | np.integer) and math.isfinite(value)
    if ok:
        ok = (value >= lo if closed[0] == "[" else value > lo) and (
            value <= hi if closed[1] == "]" else value < hi
        )
    if not ok:
        raise ValueError(
            f"{name} = {value!r} outside allowed range {closed[0]}{lo:g}, {hi:g}{closed[1]}"
        )


def _check_returns(log_returns: Any, dt: Any, min_n: int) -> np.ndarray:
    try:
        r = np.asarray(log_returns, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"log_returns: expected numbers, got {log_returns!r:.60}") from e
    if r.ndim != 1:
        raise ValueError(f"log_returns: expected a 1-D array, got shape {r.shape}")
    if r.shape[0] < min_n:
        raise ValueError(f"log_returns: {r.shape[0]} returns, need at least {min_n}")
    bad = ~np.isfinite(r)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"log_returns[{i}] = {r[i]} is not finite")
    _check_field("dt", dt, 0.0, 1.0, "(]")
    return r


def _check_simulation(n_paths: Any, n_steps: Any, dt: Any) -> None:
    for name, value in (("n_paths", n_paths), ("n_steps", n_steps)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} = {value!r} outside allowed range: integers >= 1")
    _check_field("dt", dt, 0.0, 1.0, "(]")


def _state_array(name: str, value: Any, n_paths: int) -> np.ndarray:
    """A per-path initial variance: a scalar, or one value per path; each in (0, 25]."""
    a = np.atleast_1d(np.asarray(value, dtype=float))
    if a.ndim != 1 or a.shape[0] not in (1, n_paths):
        raise ValueError(f"{name}: expected a scalar or {n_paths} values, got shape {a.shape}")
    bad = ~((a > 0.0) & (a <= 25.0))
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {a[i]} outside allowed range (0, 25]")
    return np.ascontiguousarray(a)


def _cumulant_moments(k1: float, k2: float, k3: float, k4: float) -> Moments:
    return Moments(k1, k2, k3 / k2**1.5, k4 / k2**2)


def _jump_cumulants(lam_t: float, mu_j: float, sigma_j: float) -> tuple[float, ...]:
    """Cumulants 1..4 of a compound Poisson sum: lam T E[J^n], J ~ N(mu_j, sigma_j^2)."""
    m, s2 = mu_j, sigma_j**2
    return (
        lam_t * m,
        lam_t * (m * m + s2),
        lam_t * (m**3 + 3.0 * m * s2),
        lam_t * (m**4 + 6.0 * m * m * s2 + 3.0 * s2 * s2),
    )


class _Model:
    """What the four models share: validation from RANGES, and the simulation wrappers."""

    RANGES: ClassVar[dict[str, tuple[float, float, str]]] = {}
    FIT_METHOD: ClassVar[str] = ""
    STATE: ClassVar[tuple[str, ...]] = ()  # keyword state a simulation may start from

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field outside its allowed range."""
        for f in fields(self):  # type: ignore[arg-type]
            lo, hi, closed = self.RANGES[f.name]
            _check_field(f.name, getattr(self, f.name), lo, hi, closed)

    def simulate_horizon(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: int | None = None,
        *,
        parallel: bool | None = None,
        out: np.ndarray | None = None,
        **state: Any,
    ) -> HorizonPaths:
        """Terminal log return, min, max and vol ratio of n_paths paths of n_steps steps of dt
        years, without storing the paths (risk.montecarlo).

        Args:
            n_paths, n_steps: >= 1.
            dt: years per step, (0, 1].
            seed: for np.random.SeedSequence; the same seed gives the same arrays, serial or
                parallel.
            parallel: spread the paths over threads; None decides by size.
            out: a (4, n_paths) float64 array to write into (reused between calls).
            state: ``variance0`` for GARCH and Bates (see their class docstrings).
        """
        _check_simulation(n_paths, n_steps, dt)
        self._check_state(state)
        if out is None:
            out = np.empty((4, n_paths))
        elif out.shape != (4, n_paths) or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError(f"out: expected a C-contiguous float64 (4, {n_paths}) array")
        self._run(n_paths, n_steps, dt, seed, parallel, out, mc.NO_PATHS, **state)
        return HorizonPaths(out[0], out[1], out[2], out[3])

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: int | None = None,
        *,
        parallel: bool | None = None,
        out: np.ndarray | None = None,
        **state: Any,
    ) -> np.ndarray:
        """Log-price paths (n_paths, n_steps + 1), each starting at 0: the same draws as
        `simulate_horizon` with the same arguments (its terminal is paths[:, -1]).

        out: a (n_paths, n_steps + 1) float64 array to write into.
        """
        _check_simulation(n_paths, n_steps, dt)
        self._check_state(state)
        if out is None:
            out = np.empty((n_paths, n_steps + 1))
        elif out.shape != (n_paths, n_steps + 1) or out.dtype != np.float64:
            raise ValueError(f"out: expected a float64 ({n_paths}, {n_steps + 1}) array")
        summary = np.empty((4, n_paths))
        self._run(n_paths, n_steps, dt, seed, parallel, summary, out, **state)
        return out

    def _check_state(self, state: dict[str, Any]) -> None:
        unknown = sorted(set(state) - set(self.STATE))
        if unknown:
            allowed = ", ".join(self.STATE) or "none"
            raise TypeError(f"{type(self).__name__}: unknown state {unknown}; allowed: {allowed}")

    def _run(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: Any,
        parallel: bool | None,
        out: np.ndarray,
        paths: np.ndarray,
        **state: Any,
    ) -> None:
        raise NotImplementedError


def _gens(seed: int | None, n_paths: int) -> list[np.random.Generator]:
    return mc.generators(seed, mc.n_streams(n_paths))


# --- GBM ---


@dataclass(frozen=True)
class GBM(_Model):
    """Geometric Brownian motion: x_T ~ N(mu T, sigma^2 T)."""

    mu: float = field(metadata={"doc": "log drift per year"})
    sigma: float = field(metadata={"doc": "volatility per sqrt(year)"})

    RANGES: ClassVar = {
        "mu": (-100.0, 100.0, "[]"),
        "sigma": (0.0, 5.0, "(]"),
    }  # a short window can give |mu| of several per year
    FIT_METHOD: ClassVar = "maximum likelihood (closed form: sample mean and variance)"

    @classmethod
    def fit(cls, log_returns: Any, dt: float) -> GBM:
        """MLE from returns sampled every dt years: mu = mean / dt, sigma^2 = var / dt (ddof 0).

        Raises:
            ValueError: naming log_returns (NaN, inf, fewer than MIN_RETURNS) or dt (<= 0).
        """
        r = _check_returns(log_returns, dt, MIN_RETURNS)
        return cls(mu=float(r.mean() / dt), sigma=float(math.sqrt(r.var() / dt)))

    def loglik(self, log_returns: Any, dt: float) -> float:
        """Log-likelihood of returns sampled every dt years."""
        r = _check_returns(log_returns, dt, 1)
        var = self.sigma**2 * dt
        return float(-0.5 * np.sum((r - self.mu * dt) ** 2 / var + _LOG_2PI + math.log(var)))

    def moments(self, horizon: float) -> Moments:
        _check_field("horizon", horizon, 0.0, 100.0, "(]")
        return Moments(self.mu * horizon, self.sigma**2 * horizon, 0.0, 0.0)

    def _run(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: Any,
        parallel: bool | None,
        out: np.ndarray,
        paths: np.ndarray,
        **state: Any,
    ) -> None:
        mc.JUMP_DIFFUSION.pick(n_paths * n_steps, parallel)(
            _gens(seed, n_paths),
            n_steps,
            self.mu * dt,
            self.sigma * math.sqrt(dt),
            0.0,
            0.0,
            0.0,
            out,
            paths,
        )


# --- Merton jump diffusion ---


@dataclass(frozen=True)
class Merton(_Model):
    """Merton jump diffusion: GBM plus N(mu_j, sigma_j^2) log jumps at rate lam per year.

    Cumulants of x_T: k1 = (mu + lam mu_j) T, k2 = (sigma^2 + lam (mu_j^2 + sigma_j^2)) T,
    k3 = lam T (mu_j^3 + 3 mu_j sigma_j^2), k4 = lam T (mu_j^4 + 6 mu_j^2 sigma_j^2 + 3 sigma_j^4).
    """

    mu: float = field(metadata={"doc": "diffusive log drift per year (the jumps add lam mu_j)"})
    sigma: float = field(metadata={"doc": "diffusive volatility per sqrt(year)"})
    lam: float = field(metadata={"doc": "jumps per year"})
    mu_j: float = field(metadata={"doc": "mean log jump size"})
    sigma_j: float = field(metadata={"doc": "std of the log jump size"})

    RANGES: ClassVar = {
        "mu": (-100.0, 100.0, "[]"),
        "sigma": (0.0, 5.0, "(]"),
        "lam": (0.0, 1000.0, "[]"),
        "mu_j": (-2.0, 2.0, "[]"),
        "sigma_j": (0.0, 2.0, "[]"),
    }
    FIT_METHOD: ClassVar = (
        "maximum likelihood (L-BFGS-B on the Poisson mixture of normals, truncated where the "
        "Poisson tail is below 1e-12), started from a robust split of returns into jumps"
    )

    def moments(self, horizon: float) -> Moments:
        _check_field("horizon", horizon, 0.0, 100.0, "(]")
        j = _jump_cumulants(self.lam * horizon, self.mu_j, self.sigma_j)
        return _cumulant_moments(
            self.mu * horizon + j[0], self.sigma**2 * horizon + j[1], j[2], j[3]
        )

    def loglik(self, log_returns: Any, dt: float) -> float:
        """Log-likelihood: each return's density is sum_k Poisson(k; lam dt) N(mu dt + k mu_j,
        sigma^2 dt + k sigma_j^2), summed to K where P(more than K jumps) < 1e-12."""
        r = _check_returns(log_returns, dt, 1)
        return _merton_loglik(r, dt, self.mu, self.sigma, self.lam, self.mu_j, self.sigma_j)

    @classmethod
    def fit(cls, log_returns: Any, dt: float) -> Merton:
        """MLE (FIT_METHOD). Needs jumps in the data to identify lam, mu_j, sigma_j: with few
        jumps (lam T small) they are poorly determined and sigma absorbs them.

        Raises:
            ValueError: naming log_returns (NaN, inf, fewer than MIN_RETURNS) or dt (<= 0).
        """
        r = _check_returns(log_returns, dt, MIN_RETURNS)
        center = float(np.median(r))
        mad_sd = 1.4826 * float(np.median(np.abs(r - center)))
        sd = max(mad_sd, 1e-8)
        big = np.abs(r - center) > 4.0 * sd
        n_big = int(np.sum(big))
        lam0 = min(max(n_big, 1) / (r.shape[0] * dt), 0.5 / dt)
        mu_j0 = float(np.mean(r[big] - center)) if n_big else 0.0
        sj0 = float(np.std(r[big] - center)) if n_big > 1 else 3.0 * sd
        x0 = [
            center / dt,
            math.log(sd / math.sqrt(dt)),
            math.log(lam0),
            mu_j0,
            math.log(max(sj0, sd)),
        ]
        # at most one jump per step on average (jumps must be rare to split), and in RANGES
        lam_max = min(1.0 / dt, cls.RANGES["lam"][1])

        def nll(p: np.ndarray) -> float:
            v = -_merton_loglik(r, dt, p[0], math.exp(p[1]), math.exp(p[2]), p[3], math.exp(p[4]))
            return v if math.isfinite(v) else 1e300

        bounds = [
            (-100.0, 100.0),
            (math.log(1e-4), math.log(5.0)),
            (math.log(1e-3), math.log(lam_max)),
            (-2.0, 2.0),
            (math.log(1e-4), math.log(2.0)),
        ]
        x0 = [min(max(v, lo), hi) for v, (lo, hi) in zip(x0, bounds, strict=True)]
        res = optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds)
        p = res.x
        return cls(
            mu=float(p[0]),
            sigma=float(math.exp(p[1])),
            lam=float(math.exp(p[2])),
            mu_j=float(p[3]),
            sigma_j=float(math.exp(p[4])),
        )

    def _run(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: Any,
        parallel: bool | None,
        out: np.ndarray,
        paths: np.ndarray,
        **state: Any,
    ) -> None:
        mc.JUMP_DIFFUSION.pick(n_paths * n_steps, parallel)(
            _gens(seed, n_paths),
            n_steps,
            self.mu * dt,
            self.sigma * math.sqrt(dt),
            self.lam * dt,
            self.mu_j,
            self.sigma_j,
            out,
            paths,
        )


def _merton_loglik(
    r: np.ndarray, dt: float, mu: float, sigma: float, lam: float, mu_j: float, sigma_j: float
) -> float:
    rate = lam * dt
    n_terms = int(rate + 10.0 * math.sqrt(rate) + 12.0)  # Poisson tail beyond: < 1e-12
    k = np.arange(n_terms)
    log_pois = (
        k * math.log(rate) - rate - gammaln(k + 1.0) if rate > 0 else np.where(k == 0, 0.0, -np.inf)
    )
    var = sigma * sigma * dt + k * sigma_j * sigma_j  # (K,)
    dev = r[:, None] - (mu * dt + k * mu_j)[None, :]
    terms = log_pois - 0.5 * (_LOG_2PI + np.log(var)) - 0.5 * dev * dev / var
    return float(np.sum(logsumexp(terms, axis=1)))


# --- GARCH(1,1), Student-t ---


@dataclass(frozen=True)
class GARCH(_Model):
    """GARCH(1,1) with unit-variance Student-t innovations, per step of dt years.

    Stationary per-step moments (z with kurtosis K = 3 + 6 / (nu - 4), p = alpha + beta):
    variance s2 = omega / (1 - p), skewness 0, kurtosis K (1 - p^2) / (1 - p^2 - (K - 1) alpha^2)
    (finite when nu > 4 and the denominator is > 0; otherwise inf).

    Simulation: dt must be the model's dt. ``variance0=`` sets h_1 (per-step variance) of
    every path (scalar) or of each path (array), default `variance_next` (a fitted model's
    conditional variance after its data, so a margin simulated from a fit starts from
    today's volatility, not the long-run one) or, when that is None, the stationary one;
    the vol ratio is sqrt(h_{n+1} / h_1), so h_{n+1} = vol_ratio^2 h_1 continues a path.
    `moments` without variance0 stay the stationary ones.
    """

    mu: float = field(metadata={"doc": "mean log return per step"})
    omega: float = field(metadata={"doc": "per-step variance intercept"})
    alpha: float = field(metadata={"doc": "weight of the last squared shock"})
    beta: float = field(metadata={"doc": "weight of the last variance"})
    nu: float = field(metadata={"doc": "degrees of freedom of the innovations, > 2"})
    dt: float = field(metadata={"doc": "years per step (the data's sampling interval)"})
    variance_next: float | None = field(
        default=None,
        metadata={"doc": "per-step conditional variance after the fitted data (None: none)"},
    )

    STATE: ClassVar = ("variance0",)
    RANGES: ClassVar = {
        "mu": (-1.0, 1.0, "[]"),
        "omega": (0.0, 1.0, "(]"),
        "alpha": (0.0, 1.0, "[)"),
        "beta": (0.0, 1.0, "[)"),
        "nu": (2.0, 500.0, "(]"),
        "dt": (0.0, 1.0, "(]"),
        "variance_next": (0.0, 25.0, "(]"),
    }
    FIT_METHOD: ClassVar = (
        "maximum likelihood (L-BFGS-B then Nelder-Mead on the Student-t likelihood of the "
        "returns scaled to unit variance, h_1 = sample variance), "
        "with alpha + beta < 1 kept by parametrising persistence and alpha's share of it"
    )

    def validate(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) is not None:
                lo, hi, closed = self.RANGES[f.name]
                _check_field(f.name, getattr(self, f.name), lo, hi, closed)
        _check_field("alpha + beta", self.alpha + self.beta, 0.0, 1.0, "[)")

    def filtered_variance(self, log_returns: Any) -> float:
        """The conditional variance of the step after `log_returns` (h_1 = their sample
        variance, as in the fit), within the simulation's range."""
        r = _check_returns(log_returns, self.dt, 2)
        eps = r - self.mu
        h = mc.garch_variances(eps, self.omega, self.alpha, self.beta, float(np.mean(eps * eps)))
        nxt = self.omega + self.alpha * eps[-1] * eps[-1] + self.beta * h[-1]
        return float(min(max(nxt, 1e-12), 25.0))

    @property
    def variance(self) -> float:
        """Stationary per-step variance omega / (1 - alpha - beta)."""
        return self.omega / (1.0 - self.alpha - self.beta)

    def _stationary_fourth(self) -> tuple[float, float]:
        """(E[h^2], kurtosis of z); E[h^2] = inf when the fourth moment does not exist."""
        kz = 3.0 + 6.0 / (self.nu - 4.0) if self.nu > 4.0 else math.inf
        p = self.alpha + self.beta
        den = 1.0 - p * p - (kz - 1.0) * self.alpha**2
        if not den > 0.0:
            return math.inf, kz
        return self.omega**2 * (1.0 + p) / ((1.0 - p) * den), kz

    def moments(self, horizon: float, variance0: float | None = None) -> Moments:
        """Moments of the sum of n = horizon / dt steps.

        Stationary (variance0 None): variance n s2, skewness 0 (symmetric shocks), and the
        excess kurtosis from E[S^4] = n E[e^4] + 6 sum_{k=1}^{n-1} (n - k) E[e_t^2 e_{t+k}^2],
        E[e_t^2 e_{t+k}^2] = s2^2 + p^(k-1) (E[e_t^2 h_{t+1}] - s2^2) (odd terms vanish).
        Conditional on h_1 = variance0: variance sum_k E[h_k], E[h_k] = s2 + p^(k-1) (h_1 - s2);
        skewness 0; the excess kurtosis is not derived (NaN).

        Raises:
            ValueError: horizon not a positive whole number of steps (within 1e-6).
        """
        n_float = horizon / self.dt
        n = int(round(n_float))
        if n < 1 or abs(n_float - n) > 1e-6 * max(n, 1):
            raise ValueError(
                f"horizon = {horizon!r} outside allowed range: a whole number >= 1 of dt = "
                f"{self.dt} steps"
            )
        s2, p = self.variance, self.alpha + self.beta
        if variance0 is not None:
            _check_field("variance0", variance0, 0.0, 25.0, "(]")
            k = np.arange(n)
            var = float(np.sum(s2 + p**k * (variance0 - s2)))
            return Moments(n * self.mu, var, 0.0, math.nan)
        eh2, kz = self._stationary_fourth()
        if not math.isfinite(eh2):
            return Moments(n * self.mu, n * s2, 0.0, math.inf)
        e4 = kz * eh2
        cross = self.omega * s2 + (self.alpha * kz + self.beta) * eh2 - s2 * s2
        k = np.arange(1, n)
        s4 = n * e4 + 6.0 * float(np.sum((n - k) * (s2 * s2 + p ** (k - 1.0) * cross)))
        return Moments(n * self.mu, n * s2, 0.0, s4 / (n * s2) ** 2 - 3.0)

    def loglik(self, log_returns: Any, dt: float | None = None) -> float:
        """Student-t log-likelihood with h_1 = the sample variance of the returns."""
        r = _check_returns(log_returns, self.dt if dt is None else dt, 2)
        return _garch_loglik(r, self.mu, self.omega, self.alpha, self.beta, self.nu)

    @classmethod
    def fit(cls, log_returns: Any, dt: float) -> GARCH:
        """MLE at the data's frequency (FIT_METHOD); dt is stored, not used in the fit.

        Raises:
            ValueError: naming log_returns (NaN, inf, fewer than 100) or dt (<= 0).
        """
        r = _check_returns(log_returns, dt, 100)
        p_max = garch_max_persistence(dt)
        sd = float(r.std()) or 1.0
        z = r / sd  # fitted in units of the sample sd: all parameters of order 1 for the optimiser

        def unpack(q: np.ndarray) -> tuple[float, float, float, float, float]:
            persistence = 1.0 / (1.0 + math.exp(-q[2]))
            share = 1.0 / (1.0 + math.exp(-q[3]))
            alpha = persistence * share
            return q[0], math.exp(q[1]), alpha, persistence - alpha, 2.0 + math.exp(q[4])

        def nll(q: np.ndarray) -> float:
            v = -_garch_loglik(z, *unpack(q)) / z.shape[0]
            return v if math.isfinite(v) else 1e300

        x0 = [
            float(z.mean()),
            math.log(0.05),
            math.log(min(0.95, 0.99 * p_max) / (1.0 - min(0.95, 0.99 * p_max))),
            math.log(0.1 / 0.9),
            math.log(6.0),
        ]
        bounds = [
            (-1.0, 1.0),
            (math.log(1e-6), math.log(10.0)),
            (-8.0, math.log(p_max / (1.0 - p_max))),
            (-10.0, 5.0),
            (math.log(0.05), math.log(200.0)),
        ]
        res = optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds)
        polish = {"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000}
        res = optimize.minimize(nll, res.x, method="Nelder-Mead", bounds=bounds, options=polish)
        mu, omega, alpha, beta, nu = unpack(res.x)
        mu, omega = mu * sd, omega * sd * sd
        model = cls(mu=mu, omega=omega, alpha=alpha, beta=beta, nu=nu, dt=float(dt))
        return replace(model, variance_next=model.filtered_variance(r))

    def _check_dt(self, dt: float) -> None:
        if abs(dt - self.dt) > 1e-9 * self.dt:
            raise ValueError(
                f"dt = {dt!r} outside allowed range: must equal the model's dt = {self.dt}"
            )

    def _run(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: Any,
        parallel: bool | None,
        out: np.ndarray,
        paths: np.ndarray,
        variance0: Any = None,
        **state: Any,
    ) -> None:
        self._check_dt(dt)
        if variance0 is None:
            variance0 = self.variance if self.variance_next is None else self.variance_next
        h0 = _state_array("variance0", variance0, n_paths)
        mc.GARCH.pick(n_paths * n_steps, parallel)(
            _gens(seed, n_paths),
            n_steps,
            self.mu,
            self.omega,
            self.alpha,
            self.beta,
            self.nu,
            h0,
            out,
            paths,
        )


def garch_max_persistence(dt: float) -> float:
    """alpha + beta at which a variance shock halves in MAX_HALF_LIFE_DAYS (dt years/step)."""
    return 0.5 ** (dt * 365.0 / MAX_HALF_LIFE_DAYS)


def fit_problems(model: Any) -> list[str]:
    """Why a fitted model must not be used for margins (empty when it may): a variance that
    is not stationary with a margin, or beyond MAX_ANNUAL_VARIANCE, or a Bates variance that
    can reach zero (Feller's condition 2 kappa theta >= xi^2 fails)."""
    problems = []
    if isinstance(model, GARCH):
        p = model.alpha + model.beta
        limit = garch_max_persistence(model.dt)
        if p > limit * (1.0 + 1e-12):
            problems.append(
                f"alpha + beta = {p:.6f} above {limit:.6f} (variance half-life "
                f"{MAX_HALF_LIFE_DAYS:g} days)"
            )
        annual = model.variance / model.dt
    elif isinstance(model, Bates):
        if 2.0 * model.kappa * model.theta < model.xi**2:
            problems.append(
                f"Feller condition fails: 2 kappa theta = {2 * model.kappa * model.theta:.4g} "
                f"< xi^2 = {model.xi**2:.4g}"
            )
        annual = model.theta + model.lam * (model.mu_j**2 + model.sigma_j**2)
    elif isinstance(model, Merton):
        annual = model.sigma**2 + model.lam * (model.mu_j**2 + model.sigma_j**2)
    else:
        annual = model.sigma**2
    if not annual <= MAX_ANNUAL_VARIANCE:
        problems.append(
            f"annual variance {annual:.4g} above {MAX_ANNUAL_VARIANCE:g} "
            f"({math.sqrt(MAX_ANNUAL_VARIANCE):.0%} vol)"
        )
    return problems


def _garch_loglik(
    r: np.ndarray, mu: float, omega: float, alpha: float, beta: float, nu: float
) -> float:
    eps = r - mu
    h = mc.garch_variances(eps, omega, alpha, beta, float(np.mean(eps * eps)))
    const = gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * math.log(math.pi * (nu - 2.0))
    ll = const - 0.5 * np.log(h) - 0.5 * (nu + 1.0) * np.log1p(eps * eps / ((nu - 2.0) * h))
    return float(np.sum(ll))


# --- Bates: Heston stochastic variance + Merton jumps ---


def _heston_moments(
    kappa: float, theta: float, xi: float, rho: float, horizon: float, ev0: float, ev0_sq: float
) -> tuple[float, float, float]:
    """E[M^2], E[M^3], E[M^4] of M_T = int_0^T sqrt(v) dW1, given E[v_0] and E[v_0^2].

    By Ito, with m = E[v], q = E[v^2], S = E[M^2], g = E[M v], h = E[M^2 v]:

        m' = kappa (theta - m)             q' = (2 kappa theta + xi^2) m - 2 kappa q
        S' = m                             g' = rho xi m - kappa g
        h' = kappa theta S - kappa h + q + 2 rho xi g
        E[M^3]' = 3 g                      E[M^4]' = 6 h

    a linear system with constant coefficients, solved exactly by a matrix exponential.
    """
    a = np.zeros((8, 8))  # state: 1, m, q, S, g, h, E[M^3], E[M^4]
    a[1, 0], a[1, 1] = kappa * theta, -kappa
    a[2, 1], a[2, 2] = 2.0 * kappa * theta + xi * xi, -2.0 * kappa
    a[3, 1] = 1.0
    a[4, 1], a[4, 4] = rho * xi, -kappa
    a[5, 3], a[5, 5], a[5, 2], a[5, 4] = kappa * theta, -kappa, 1.0, 2.0 * rho * xi
    a[6, 4] = 3.0
    a[7, 5] = 6.0
    y = expm(a * horizon) @ np.array([1.0, ev0, ev0_sq, 0.0, 0.0, 0.0, 0.0, 0.0])
    return float(y[3]), float(y[6]), float(y[7])


@dataclass(frozen=True)
class Bates(_Model):
    """Heston stochastic variance with Merton log-normal jumps (module docstring).

    Moments of x_T (all exact): the diffusion part M_T = int sqrt(v) dW1 and the jumps are
    independent, so cumulants add. M's come from the moment ODEs of `_heston_moments`
    (mean 0, variance E[int v] = theta T + (v0 - theta)(1 - e^(-kappa T)) / kappa, third and
    fourth from the leverage rho xi and the vol of variance), the jumps' as in `Merton`.

    Simulation: ``variance0=`` sets v_0 of every path (scalar) or of each path (array),
    default the model's v0; the vol ratio is sqrt(v_n / v_0).
    """

    mu: float = field(metadata={"doc": "log drift per year (the jumps add lam mu_j)"})
    kappa: float = field(metadata={"doc": "mean reversion of the variance, per year"})
    theta: float = field(metadata={"doc": "long-run variance (annualised: 0.25 = 50% vol)"})
    xi: float = field(metadata={"doc": "volatility of the variance"})
    rho: float = field(metadata={"doc": "correlation of the variance's and the log price's shocks"})
    v0: float = field(metadata={"doc": "current variance (annualised)"})
    lam: float = field(metadata={"doc": "jumps per year"})
    mu_j: float = field(metadata={"doc": "mean log jump size"})
    sigma_j: float = field(metadata={"doc": "std of the log jump size"})

    STATE: ClassVar = ("variance0",)
    RANGES: ClassVar = {
        "mu": (-100.0, 100.0, "[]"),
        "kappa": (0.0, 100.0, "(]"),
        "theta": (0.0, 5.0, "(]"),
        "xi": (0.0, 10.0, "(]"),
        "rho": (-1.0, 1.0, "[]"),
        "v0": (0.0, 5.0, "(]"),
        "lam": (0.0, 1000.0, "[]"),
        "mu_j": (-2.0, 2.0, "[]"),
        "sigma_j": (0.0, 2.0, "[]"),
    }
    FIT_METHOD: ClassVar = (
        "method of moments (least squares, scipy.optimize.least_squares): variance, skewness "
        "and kurtosis of 1-, 5- and 20-step returns (exact stationary model moments), "
        "autocorrelation of squared returns at lags 1-50 and corr(r_t, r_{t+k}^2) at lags "
        "1, 5, 20 (approximate model values: integrated-variance covariances only); "
        "v0 = theta, mu from the mean"
    )

    def _moments(self, horizon: float, ev0: float, ev0_sq: float) -> Moments:
        s, m3, m4 = _heston_moments(self.kappa, self.theta, self.xi, self.rho, horizon, ev0, ev0_sq)
        j = _jump_cumulants(self.lam * horizon, self.mu_j, self.sigma_j)
        return _cumulant_moments(
            self.mu * horizon + j[0], s + j[1], m3 + j[2], m4 - 3 * s * s + j[3]
        )

    def moments(self, horizon: float, variance0: float | None = None) -> Moments:
        """Exact moments of x over horizon years from v_0 = variance0 (default the model's v0)."""
        _check_field("horizon", horizon, 0.0, 100.0, "(]")
        v0 = self.v0 if variance0 is None else variance0
        _check_field("variance0", v0, 0.0, 25.0, "(]")
        return self._moments(horizon, v0, v0 * v0)

    def stationary_moments(self, horizon: float) -> Moments:
        """Moments with v_0 drawn from the stationary law (mean theta, variance
        theta xi^2 / (2 kappa)): those of a return observed at a random time."""
        _check_field("horizon", horizon, 0.0, 100.0, "(]")
        return self._moments(
            horizon, self.theta, self.theta**2 + self.theta * self.xi**2 / (2.0 * self.kappa)
        )

    def _run(
        self,
        n_paths: int,
        n_steps: int,
        dt: float,
        seed: Any,
        parallel: bool | None,
        out: np.ndarray,
        paths: np.ndarray,
        variance0: Any = None,
        **state: Any,
    ) -> None:
        v0 = _state_array("variance0", self.v0 if variance0 is None else variance0, n_paths)
        mc.BATES.pick(n_paths * n_steps, parallel)(
            _gens(seed, n_paths),
            n_steps,
            float(dt),
            self.mu,
            self.kappa,
            self.theta,
            self.xi,
            self.rho,
            v0,
            self.lam * dt,
            self.mu_j,
            self.sigma_j,
            out,
            paths,
        )

    @classmethod
    def fit(cls, log_returns: Any, dt: float) -> Bates:
        """Method of moments (FIT_METHOD) on at least 2,000 returns sampled every dt years.

        Stochastic variance and jumps both fatten tails; they are told apart by how fast the
        kurtosis decays with aggregation (jumps: as 1/h) and by the persistence of squared
        returns. Even with 100,000 daily returns that split is weakly identified: the total
        variance theta + lam (mu_j^2 + sigma_j^2), the sign of rho and kappa (to a factor ~2)
        are recovered, theta, xi and the jump parameters trade off against each other (the
        fitted model still matches the targeted moments). A likelihood fit would do better.

        Raises:
            ValueError: naming log_returns (NaN, inf, fewer than 2,000) or dt (<= 0).
        """
        r = _check_returns(log_returns, dt, BATES_MIN_RETURNS)
        target, scale = _bates_data_moments(r)
        mean = float(r.mean())

        def residuals(p: np.ndarray) -> np.ndarray:
            return (_bates_model_moments(p, dt) - target) / scale

        lo = [0.05, 1e-4, 0.01, -0.99, 0.0, -0.5, 0.005]
        hi = [50.0, 4.0, 5.0, 0.99, 200.0, 0.5, 0.5]
        var_year = float(r.var()) / dt
        lev = float(np.sign(target[-1])) if target[-1] != 0 else 0.0
        best = None
        for kappa0, share0, lam0 in ((2.0, 0.8, 2.0), (6.0, 0.6, 10.0), (1.0, 0.95, 0.5)):
            theta0 = share0 * var_year
            sj0 = math.sqrt((1.0 - share0) * var_year / lam0)
            start = [
                kappa0,
                theta0,
                math.sqrt(2 * kappa0 * theta0) * 0.7,
                0.5 * lev,
                lam0,
                0.0,
                min(sj0, 0.4),
            ]
            x0 = np.clip(start, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
            res = optimize.least_squares(
                residuals, x0, bounds=(lo, hi), x_scale="jac", max_nfev=300
            )
            if best is None or res.cost < best.cost:
                best = res
        kappa, theta, xi, rho, lam, mu_j, sigma_j = (float(v) for v in best.x)  # type: ignore[union-attr]
        return cls(
            mu=mean / dt - lam * mu_j,
            kappa=kappa,
            theta=theta,
            xi=xi,
            rho=rho,
            v0=theta,
            lam=lam,
            mu_j=mu_j,
            sigma_j=sigma_j,
        )


_AGGREGATION = (1, 5, 20)  # steps summed for the variance, skewness and kurtosis targets
_ACF_LAGS = (1, 2, 5, 10, 20, 50)  # autocorrelation of squared returns
_LEVERAGE_LAGS = (1, 5, 20)  # corr(r_t, r_{t+k}^2)


def _bates_data_moments(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample targets and their rough standard errors (the residuals' scales)."""
    values, scales = [], []
    c = r - r.mean()
    for h in _AGGREGATION:
        n_h = c.shape[0] // h
        s = c[: n_h * h].reshape(n_h, h).sum(axis=1)
        m2, m3, m4 = (float(np.mean(s**k)) for k in (2, 3, 4))
        values += [math.log(m2), m3 / m2**1.5, m4 / m2**2 - 3.0]
        # standard errors from the influence functions of the three statistics
        if_m2, if_m3, if_m4 = s * s - m2, s**3 - m3 - 3.0 * m2 * s, s**4 - m4 - 4.0 * m3 * s
        for infl in (
            if_m2 / m2,
            if_m3 / m2**1.5 - 1.5 * m3 / m2**2.5 * if_m2,
            if_m4 / m2**2 - 2.0 * m4 / m2**3 * if_m2,
        ):
            scales.append(float(np.std(infl)) / math.sqrt(n_h))
    sq = c * c - np.mean(c * c)
    n = c.shape[0]
    for k in _ACF_LAGS:
        values.append(float(np.dot(sq[:-k], sq[k:]) / np.dot(sq, sq)))
        scales.append(1.0 / math.sqrt(n))
    sd_sq = float(np.std(c * c))
    for k in _LEVERAGE_LAGS:
        values.append(float(np.mean(c[:-k] * sq[k:])) / (float(np.std(c)) * sd_sq))
        scales.append(1.0 / math.sqrt(n))
    return np.array(values), np.array(scales)


def _bates_model_moments(p: np.ndarray, dt: float) -> np.ndarray:
    """The model's values of `_bates_data_moments`'s targets (stationary variance)."""
    kappa, theta, xi, rho, lam, mu_j, sigma_j = p
    model = Bates(0.0, kappa, theta, xi, rho, theta, lam, mu_j, sigma_j)
    values = []
    for h in _AGGREGATION:
        m = model.stationary_moments(h * dt)
        values += [math.log(m.variance), m.skewness, m.excess_kurtosis]
    one = model.stationary_moments(dt)
    var_sq = one.excess_kurtosis * one.variance**2 + 2.0 * one.variance**2  # Var(r^2)
    var_v = theta * xi * xi / (2.0 * kappa)
    block = ((1.0 - math.exp(-kappa * dt)) / kappa) ** 2  # int over two steps of e^(-kappa s)
    for k in _ACF_LAGS:
        values.append(var_v * block * math.exp(-kappa * (k - 1) * dt) / var_sq)
    for k in _LEVERAGE_LAGS:
        cov = rho * xi * theta * block * math.exp(-kappa * (k - 1) * dt)
        values.append(cov / math.sqrt(one.variance * var_sq))
    return np.array(values)
