"""The GP model, its acquisition functions and the transforms around it: gradients, limits, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special

from suggest_api.space import SearchSpace
from suggest_api.suggesters.acquisition import (
    Acquisition,
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    UpperConfidenceBound,
    log_h,
    log_h_slope,
    maximize,
)
from suggest_api.suggesters.gaussian_process import (
    GaussianProcess,
    Hyperparameters,
    fit_hyperparameters,
    length_scale_prior_loc,
    log_marginal_likelihood,
    log_prior,
)
from suggest_api.suggesters.warping import CubeGeometry, OutputWarp

RNG = np.random.default_rng(7)
X = RNG.random((12, 3))
Y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2]
Y = (Y - Y.mean()) / Y.std()
HYPER = Hyperparameters(np.array([0.3, 0.7, 1.5]), 1.3, 1e-4)


def test_marginal_likelihood_gradient_is_analytic_and_right() -> None:
    theta = HYPER.to_vector()
    error = optimize.check_grad(lambda t: log_marginal_likelihood(t, X, Y)[0],
                                lambda t: log_marginal_likelihood(t, X, Y)[1], theta, epsilon=1e-6)
    scale = float(np.linalg.norm(log_marginal_likelihood(theta, X, Y)[1]))
    assert error < 1e-4 * max(scale, 1.0)


def test_prior_gradient_matches_finite_differences() -> None:
    theta = HYPER.to_vector()
    error = optimize.check_grad(lambda t: log_prior(t, 3)[0], lambda t: log_prior(t, 3)[1], theta)
    assert error < 1e-5


@pytest.mark.parametrize("point", [RNG.random(3), X[4] + 1e-3])
def test_posterior_gradients_match_finite_differences(point: np.ndarray) -> None:
    gp = GaussianProcess(X, Y, HYPER)
    for part in ("mean", "std"):
        def value(p: np.ndarray, part: str = part) -> float:
            return float(getattr(gp.predict(p[None, :]), part)[0])

        def grad(p: np.ndarray, part: str = part) -> np.ndarray:
            return np.asarray(getattr(gp.predict(p[None, :], gradient=True), f"{part}_grad")[0])

        assert optimize.check_grad(value, grad, point, epsilon=1e-7) < 1e-4


def test_posterior_interpolates_noiseless_data() -> None:
    gp = GaussianProcess(X, Y, Hyperparameters(HYPER.length_scales, 1.0, 1e-8))
    post = gp.predict(X)
    np.testing.assert_allclose(post.mean, Y, atol=1e-5)
    assert np.all(post.std < 1e-3)
    far = gp.predict(np.full((1, 3), 50.0))
    assert far.std[0] == pytest.approx(1.0, rel=1e-6)


def test_conditioning_equals_refitting_the_factor_from_scratch() -> None:
    """Extending the Cholesky factor gives the same posterior as building the GP on all points."""
    gp = GaussianProcess(X[:8], Y[:8], HYPER).condition(X[8:], Y[8:])
    whole = GaussianProcess(X, Y, HYPER)
    probe = RNG.random((5, 3))
    np.testing.assert_allclose(gp.predict(probe).mean, whole.predict(probe).mean, atol=1e-9)
    np.testing.assert_allclose(gp.predict(probe).std, whole.predict(probe).std, atol=1e-9)


def test_kriging_believer_keeps_the_mean_and_shrinks_the_variance() -> None:
    gp = GaussianProcess(X, Y, HYPER)
    pending = np.array([[0.5, 0.5, 0.5]])
    believed = gp.condition(pending, gp.predict(pending).mean)
    probe = np.vstack([pending, RNG.random((4, 3))])
    np.testing.assert_allclose(believed.predict(probe).mean, gp.predict(probe).mean, atol=1e-8)
    assert believed.predict(pending).std[0] < 0.05 * gp.predict(pending).std[0]


def test_map_fit_learns_short_and_irrelevant_length_scales() -> None:
    """A function of the first column only: its length scale short, the others pushed long."""
    x = np.random.default_rng(1).random((30, 3))
    y = np.sin(8 * x[:, 0])
    hyper = fit_hyperparameters(x, (y - y.mean()) / y.std())
    assert hyper.length_scales[0] < 0.5
    assert hyper.length_scales[1] > 2 * hyper.length_scales[0]
    assert hyper.length_scales[2] > 2 * hyper.length_scales[0]
    assert hyper.noise_variance < 1e-2


def test_prior_pulls_length_scales_towards_its_centre_when_data_say_little() -> None:
    """Three nearly flat points: without a prior the fit could run anywhere; with it, near the prior centre."""
    x = np.array([[0.1, 0.2], [0.5, 0.6], [0.9, 0.3]])
    hyper = fit_hyperparameters(x, np.array([0.01, -0.01, 0.0]))
    centre = math.exp(length_scale_prior_loc(2))
    assert np.all(hyper.length_scales > centre / 10)
    assert np.all(hyper.length_scales < centre * 10)


def test_prior_centre_grows_with_dimension() -> None:
    assert length_scale_prior_loc(1) < length_scale_prior_loc(4) < length_scale_prior_loc(64)


def naive_log_ei_h(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(special.ndtr(z) * z + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)))


def test_log_h_equals_the_naive_formula_where_that_is_finite() -> None:
    z = np.linspace(-20, 8, 400)
    np.testing.assert_allclose(log_h(z), naive_log_ei_h(z), rtol=1e-7, atol=1e-9)


def test_log_h_stays_finite_and_decreasing_far_in_the_tail() -> None:
    z = -np.logspace(0, 12, 300)
    with np.errstate(divide="ignore"):
        assert np.all(np.isneginf(naive_log_ei_h(z[z < -40])))
    values = log_h(z)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) < 0)
    # asymptote: log h(z) ~ log phi(z) - 2 log|z|
    assert values[-1] == pytest.approx(-0.5 * z[-1] ** 2 - 0.5 * math.log(2 * math.pi) - 2 * math.log(-z[-1]),
                                       rel=1e-9)


def test_log_h_slope_matches_finite_differences() -> None:
    z = np.array([-1e4, -300.0, -30.0, -3.0, -1.0, -0.2, 0.0, 1.5, 6.0])
    eps = 1e-6 * np.maximum(1.0, np.abs(z))
    numeric = (log_h(z + eps) - log_h(z - eps)) / (2 * eps)
    np.testing.assert_allclose(log_h_slope(z, log_h(z)), numeric, rtol=1e-5)


@pytest.mark.parametrize("kind", ["ei", "ucb", "pi"])
def test_acquisition_gradients_match_finite_differences(kind: str) -> None:
    gp = GaussianProcess(X, Y, HYPER)
    choices: dict[str, Acquisition] = {"ei": LogExpectedImprovement(gp, float(Y.min())),
                                       "ucb": UpperConfidenceBound(gp, 2.0),
                                       "pi": LogProbabilityOfImprovement(gp, float(Y.min()))}
    acquisition = choices[kind]
    for point in np.random.default_rng(11).random((4, 3)):  # including one with z near -8
        grad = np.asarray(acquisition(point[None, :], gradient=True)[1])[0]
        error = optimize.check_grad(lambda p: float(acquisition(p[None, :])[0][0]),
                                    lambda p: np.asarray(acquisition(p[None, :], gradient=True)[1])[0],
                                    point, epsilon=1e-8)
        assert error < 1e-3 * max(1.0, float(np.linalg.norm(grad)))


def test_optimizer_finds_the_maximum_of_a_known_acquisition() -> None:
    """EI of a GP on a bowl with its minimum at (0.3, 0.7), from points far from it: the optimum is close."""
    x = np.random.default_rng(3).random((25, 2)) * 0.6 + np.array([0.0, 0.4])
    y = ((x - np.array([0.3, 0.7])) ** 2).sum(1)
    gp = GaussianProcess(x, (y - y.mean()) / y.std(), Hyperparameters(np.array([0.5, 0.5]), 1.0, 1e-6))
    geometry = CubeGeometry(SearchSpace.from_json({"params": [
        {"name": "a", "type": "float", "low": 0, "high": 1}, {"name": "b", "type": "float", "low": 0, "high": 1}]}))
    acquisition = LogExpectedImprovement(gp, float(gp.y.min()))
    points, values = maximize(acquisition, geometry, np.random.default_rng(0).random((256, 2)), starts=4)
    dense = np.stack(np.meshgrid(np.linspace(0, 1, 201), np.linspace(0, 1, 201)), -1).reshape(-1, 2)
    assert values[0] >= acquisition(dense)[0].max() - 1e-6
    assert np.all(np.diff(values) <= 0)


MIXED = SearchSpace.from_json({"params": [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 8},
    {"name": "units", "type": "int", "low": 8, "high": 1024, "log": True},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    {"name": "opt", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"opt": ["sgd"]}},
    {"name": "nesterov", "type": "categorical", "choices": [True, False], "when": {"opt": ["sgd"]}},
    {"name": "beta", "type": "int", "low": 1, "high": 9, "log": True, "when": {"nesterov": [True]}},
]})


def test_projection_is_what_the_space_encodes() -> None:
    """Projecting a random point gives exactly encode(decode(point)), up to float noise."""
    geometry = CubeGeometry(MIXED)
    points = np.random.default_rng(5).random((300, MIXED.dimension))
    projected = geometry.project(points)
    expected = np.array([MIXED.encode(MIXED.decode(p)) for p in points])
    np.testing.assert_allclose(projected, expected, atol=1e-12)
    np.testing.assert_array_equal(geometry.project(projected), projected)


def test_discrete_moves_visit_every_other_choice_and_level() -> None:
    geometry = CubeGeometry(MIXED)
    point = MIXED.encode({"lr": 0.01, "layers": 3, "units": 64, "dropout": 0.1, "opt": "adam"})
    moves = [MIXED.decode(m) for m in geometry.discrete_moves(point)]
    assert {m["opt"] for m in moves} == {"sgd", "adam", "rmsprop"}
    assert {m["layers"] for m in moves} == set(range(1, 9))
    assert len({m["dropout"] for m in moves}) == 11
    assert any("momentum" in m for m in moves)  # switching to sgd activates its children
    assert len(moves) == 2 + 7 + 10
    free = geometry.free_columns(point)
    assert free[MIXED.slices()["lr"]].all() and not free[MIXED.slices()["momentum"]].any()
    assert not free[MIXED.slices()["opt"]].any()


def test_output_warp_is_monotone_and_tames_orders_of_magnitude() -> None:
    values = np.concatenate([np.logspace(-3, 4, 40), [0.0]])
    warp = OutputWarp(values)
    scores = warp(values)
    order = np.argsort(values)
    assert np.all(np.diff(scores[order]) > 0)
    assert abs(scores.mean()) < 1e-9 and scores.std() == pytest.approx(1.0)
    plain = (values - values.mean()) / values.std()
    assert scores.max() < plain.max() - 0.5  # the largest value stands out less


def test_output_warp_never_compresses_the_good_tail() -> None:
    """Values with a long tail of good (low) values, as near a found optimum: a normality-seeking warp
    would squeeze them together; this one stays linear there, so their differences stay visible."""
    values = -np.logspace(-3, 1, 40)
    scores = OutputWarp(values)(values)
    gaps = np.diff(scores[np.argsort(values)]) / np.diff(np.sort(values))
    np.testing.assert_allclose(gaps, gaps[0], rtol=1e-6)


def test_output_warp_of_constant_values_is_finite() -> None:
    assert np.all(np.isfinite(OutputWarp(np.full(5, 2.0))(np.full(5, 2.0))))
