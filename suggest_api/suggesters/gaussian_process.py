"""A small Gaussian-process regressor for Bayesian optimization in the unit cube.

Written here rather than taken from scikit-learn because `GaussianProcessRegressor` can neither put
priors on kernel hyperparameters (it maximizes the bare marginal likelihood, which overfits length scales
on the 10-50 points a study has) nor give the input gradients of the posterior that the acquisition
optimizer needs. The model:

- Matérn-5/2 kernel with one length scale per column (ARD) and a signal variance, plus a learned
  (homoscedastic) noise variance; zero mean on targets that the caller has standardized.
- Hyperparameters fitted by MAP: log marginal likelihood plus log priors, maximized by L-BFGS-B with
  analytic gradients from a couple of starts. Length scales get the dimension-scaled log-normal prior of
  Hvarfner et al. (2024, "Vanilla Bayesian optimization performs great in high dimensions"), with a
  centre and spread tuned for the few dimensions of hyperparameter spaces: log l ~ N(-1.4 + log(d) / 2,
  0.75^2) (see _LENGTH_LOC); the signal variance log s2 ~ N(0, 1); the noise log n2 ~ N(-9, 2)
  with a floor of 1e-6, so deterministic objectives are nearly interpolated while noisy ones can still
  learn their noise.
- Cholesky factorization with growing jitter when the kernel matrix is near singular.
- `condition` adds points (fantasies for pending trials) by extending the Cholesky factor, without
  refitting hyperparameters: O(n^2) per point instead of a new fit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize

Array = npt.NDArray[np.float64]

_SQRT5 = math.sqrt(5.0)
#: Prior on log length scales: mean -1.4 + log(d) / 2, standard deviation 0.75. The sqrt(d) growth is
#: Hvarfner et al.'s (2024); their centre (sqrt 2, spread sqrt 3) suits dozens of dimensions, but in the 2-10
#: columns of a typical study it let one column's length scale run off to ~10 when the data near the optimum
#: all shared its value, so the model ignored that column and stalled in a local optimum (Hartmann-3). A
#: median of 0.25 sqrt(d) with a tighter spread keeps every column in play unless the data clearly say
#: otherwise, and keeps enough doubt between points to leave a local basin (Rosenbrock-4: -1.0 stalled in
#: 3 of 10 seeds).
_LENGTH_LOC, _LENGTH_SCALE = -1.4, 0.75
#: Prior on the log signal variance of standardized targets: centred on 1.
_SIGNAL_LOC, _SIGNAL_SCALE = 0.0, 1.0
#: Prior on the log noise variance: centred near 1e-4 of the target variance, so noise must be earned.
_NOISE_LOC, _NOISE_SCALE = -9.0, 2.0
#: Box constraints of the MAP fit (natural log of each hyperparameter).
_LOG_LENGTH_BOUNDS = (math.log(1e-2), math.log(1e3))
_LOG_SIGNAL_BOUNDS = (math.log(1e-2), math.log(1e2))
_LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(1.0))
_JITTER = 1e-9
_FIT_MAXITER = 200


@dataclass(frozen=True)
class Hyperparameters:
    """Kernel and noise parameters; `to_vector` gives the log-space vector the fit optimizes."""

    length_scales: Array
    signal_variance: float
    noise_variance: float

    def to_vector(self) -> Array:
        return np.concatenate([np.log(self.length_scales),
                               [math.log(self.signal_variance), math.log(self.noise_variance)]])

    @classmethod
    def from_vector(cls, theta: Array) -> Hyperparameters:
        return cls(np.exp(theta[:-2]), float(np.exp(theta[-2])), float(np.exp(theta[-1])))


def _scaled_distance(a: Array, b: Array, length_scales: Array) -> Array:
    """Euclidean distances between rows of a and b after dividing each column by its length scale."""
    sa, sb = a / length_scales, b / length_scales
    sq = (sa * sa).sum(1)[:, None] + (sb * sb).sum(1)[None, :] - 2.0 * sa @ sb.T
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)), dtype=np.float64)


def matern52(a: Array, b: Array, hyper: Hyperparameters) -> Array:
    """k(a, b) = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r), with r the length-scaled distance."""
    r = _scaled_distance(a, b, hyper.length_scales)
    return hyper.signal_variance * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)


def _matern52_slope(r: Array, signal_variance: float) -> Array:
    """G with dk/dx_i = -G (x_i - y_i) / l_i^2: s2 (5/3) (1 + sqrt5 r) exp(-sqrt5 r), finite at r = 0."""
    return signal_variance * (5.0 / 3.0) * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r)


def _cholesky(matrix: Array, scale: float) -> Array:
    """Lower Cholesky factor, adding jitter (relative to `scale`) until the matrix is positive definite."""
    jitter = _JITTER * scale
    eye = np.eye(len(matrix))
    for _ in range(8):
        try:
            return np.asarray(linalg.cholesky(matrix + jitter * eye, lower=True, check_finite=False))
        except linalg.LinAlgError:
            jitter *= 10.0
    raise linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


def length_scale_prior_loc(dimension: int) -> float:
    """Mean of the log length-scale prior: longer scales in more dimensions, as Hvarfner et al. argue."""
    return _LENGTH_LOC + 0.5 * math.log(max(dimension, 1))


def log_prior(theta: Array, dimension: int) -> tuple[float, Array]:
    """Log prior density of the log-space hyperparameters (up to a constant) and its gradient."""
    locs = np.concatenate([np.full(len(theta) - 2, length_scale_prior_loc(dimension)), [_SIGNAL_LOC, _NOISE_LOC]])
    scales = np.concatenate([np.full(len(theta) - 2, _LENGTH_SCALE), [_SIGNAL_SCALE, _NOISE_SCALE]])
    z = (theta - locs) / scales
    return float(-0.5 * np.sum(z * z)), -z / scales


def log_marginal_likelihood(theta: Array, x: Array, y: Array) -> tuple[float, Array]:
    """log p(y | x, theta) for log-space hyperparameters and its analytic gradient.

    d/d theta_j = 1/2 tr((alpha alpha^T - K^-1) dK/d theta_j), with dK/d log l_i = G * (x_i - x'_i)^2 / l_i^2.
    """
    hyper = Hyperparameters.from_vector(theta)
    n = len(y)
    r = _scaled_distance(x, x, hyper.length_scales)
    k_f = hyper.signal_variance * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)
    chol = _cholesky(k_f + hyper.noise_variance * np.eye(n), hyper.signal_variance)
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    value = -0.5 * float(y @ alpha) - float(np.log(np.diag(chol)).sum()) - 0.5 * n * math.log(2 * math.pi)
    inverse = linalg.cho_solve((chol, True), np.eye(n), check_finite=False)
    w = np.outer(alpha, alpha) - inverse
    m = w * _matern52_slope(r, hyper.signal_variance)
    z = x / hyper.length_scales
    # sum_ab M_ab (z_a - z_b)^2 = 2 (sum_a z_a^2 rowsum_a - z^T M z) for symmetric M, per column.
    grad_length = m.sum(1) @ (z * z) - np.sum(z * (m @ z), axis=0)
    grad_signal = 0.5 * float(np.sum(w * k_f))
    grad_noise = 0.5 * hyper.noise_variance * float(np.trace(w))
    return value, np.concatenate([grad_length, [grad_signal, grad_noise]])


def _fit_bounds(dimension: int) -> list[tuple[float, float]]:
    return [_LOG_LENGTH_BOUNDS] * dimension + [_LOG_SIGNAL_BOUNDS, _LOG_NOISE_BOUNDS]


def _stop_at(deadline: float) -> Callable[[optimize.OptimizeResult], None]:
    """An L-BFGS-B callback that ends the run at `deadline` (scipy's documented StopIteration); the result
    is then the last accepted iterate, with its objective value."""

    def stop(intermediate_result: optimize.OptimizeResult) -> None:
        if time.monotonic() >= deadline:
            raise StopIteration

    return stop


def fit_hyperparameters(x: Array, y: Array, *, deadline: float | None = None) -> Hyperparameters:
    """MAP hyperparameters for standardized targets y at points x, best of a few L-BFGS-B starts.

    Starts: the prior's centre, and short length scales (a wiggly fit the long-scale start can miss). The
    first start always runs to its end, so there is a fitted model however late it is; past `deadline` (a
    `time.monotonic()` value) the later starts are skipped, or stopped where they are.
    """
    dimension = x.shape[1]

    def negative_posterior(theta: Array) -> tuple[float, Array]:
        try:
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                lml, grad_lml = log_marginal_likelihood(theta, x, y)
        except linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        lp, grad_lp = log_prior(theta, dimension)
        total = lml + lp
        if not np.isfinite(total) or not np.all(np.isfinite(grad_lml)):
            return 1e25, np.zeros_like(theta)
        return -total, -(grad_lml + grad_lp)

    bounds = _fit_bounds(dimension)
    prior_centre = length_scale_prior_loc(dimension)
    starts = [np.concatenate([np.full(dimension, prior_centre), [0.0, math.log(1e-3)]]),
              np.concatenate([np.full(dimension, math.log(0.2)), [0.0, math.log(1e-4)]])]
    best_theta, best_value = starts[0], math.inf
    for i, start in enumerate(starts):
        callback: Callable[[optimize.OptimizeResult], None] | None = None
        if i and deadline is not None:
            if time.monotonic() >= deadline:
                break
            callback = _stop_at(deadline)
        result = optimize.minimize(negative_posterior, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                   options={"maxiter": _FIT_MAXITER}, callback=callback)
        if result.fun < best_value:
            best_theta, best_value = np.asarray(result.x, dtype=np.float64), float(result.fun)
    return Hyperparameters.from_vector(best_theta)


@dataclass(frozen=True)
class Posterior:
    """Predictive mean and standard deviation of the latent function at m points, with input gradients."""

    mean: Array
    std: Array
    mean_grad: Array | None = None
    std_grad: Array | None = None


class GaussianProcess:
    """A GP conditioned on (x, y) under fixed hyperparameters; immutable, `condition` returns a new one."""

    def __init__(self, x: Array, y: Array, hyper: Hyperparameters, chol: Array | None = None) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.hyper = hyper
        if chol is None:
            k = matern52(self.x, self.x, hyper) + hyper.noise_variance * np.eye(len(self.x))
            chol = _cholesky(k, hyper.signal_variance)
        self.chol = chol
        self.alpha = linalg.cho_solve((chol, True), self.y, check_finite=False)

    @classmethod
    def fit(cls, x: Array, y: Array) -> GaussianProcess:
        """Fit hyperparameters by MAP, then condition on the data."""
        return cls(x, y, fit_hyperparameters(x, y))

    def predict(self, points: Array, *, gradient: bool = False) -> Posterior:
        """Posterior of the noiseless function at `points` (m, d); gradients with respect to the points."""
        hyper = self.hyper
        r = _scaled_distance(points, self.x, hyper.length_scales)
        k = hyper.signal_variance * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)
        mean = k @ self.alpha
        v = linalg.solve_triangular(self.chol, k.T, lower=True, check_finite=False)
        variance = np.maximum(hyper.signal_variance - np.sum(v * v, axis=0), 1e-12 * hyper.signal_variance)
        std = np.sqrt(variance)
        if not gradient:
            return Posterior(mean, std)
        # dk(p, x_j)/dp_i = -G_j (p_i - x_ji) / l_i^2
        g = _matern52_slope(r, hyper.signal_variance)
        inv_sq = 1.0 / (hyper.length_scales ** 2)
        ga = g * self.alpha
        mean_grad = -(points * ga.sum(1)[:, None] - ga @ self.x) * inv_sq
        kinv_k = linalg.solve_triangular(self.chol.T, v, lower=False, check_finite=False).T  # (m, n)
        gw = g * kinv_k
        # d var/dp = -2 (K^-1 k)^T dk/dp
        var_grad = 2.0 * (points * gw.sum(1)[:, None] - gw @ self.x) * inv_sq
        std_grad = var_grad / (2.0 * std[:, None])
        return Posterior(mean, std, mean_grad, std_grad)

    def condition(self, points: Array, values: Array) -> GaussianProcess:
        """The GP with (points, values) added as observations, hyperparameters unchanged.

        Extends the Cholesky factor blockwise: [[L, 0], [B, C]] with B = K21 L^-T and C C^T = K22 - B B^T.
        """
        if len(points) == 0:
            return self
        hyper = self.hyper
        k21 = matern52(points, self.x, hyper)
        k22 = matern52(points, points, hyper) + hyper.noise_variance * np.eye(len(points))
        b = linalg.solve_triangular(self.chol, k21.T, lower=True, check_finite=False).T
        c = _cholesky(k22 - b @ b.T, hyper.signal_variance)
        n, m = len(self.x), len(points)
        chol = np.zeros((n + m, n + m))
        chol[:n, :n] = self.chol
        chol[n:, :n] = b
        chol[n:, n:] = c
        return GaussianProcess(np.vstack([self.x, points]), np.concatenate([self.y, values]), hyper, chol)
