import itertools
import subprocess
import sys

import numpy as np
import pytest

from service.assignment import min_cost_assignment


def brute_force_cost(cost: np.ndarray) -> float:
    """The cheapest total over every way of pairing min(n, m) rows and columns one to one."""
    n, m = cost.shape
    if n > m:
        return brute_force_cost(cost.T)
    return min(sum(cost[i, j] for i, j in enumerate(cols)) for cols in itertools.permutations(range(m), n))


@pytest.mark.parametrize("seed", range(40))
def test_the_assignment_is_as_cheap_as_every_permutation_and_one_to_one(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 7, 2)
    cost = rng.random((n, m)) if seed % 2 else rng.integers(0, 3, (n, m)).astype(float)  # ties on even seeds
    rows, cols = min_cost_assignment(cost)
    assert len(rows) == len(cols) == min(n, m)
    assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
    assert list(rows) == sorted(rows)
    assert cost[rows, cols].sum() == pytest.approx(brute_force_cost(cost))


def test_the_cheapest_matching_is_not_the_greedy_one():
    # greedy takes (0, 0) at 1 and must then pay 10 for (1, 1); the optimum pays 2 + 2
    rows, cols = min_cost_assignment(np.array([[1.0, 2.0], [2.0, 10.0]]))
    assert list(zip(rows, cols, strict=True)) == [(0, 1), (1, 0)]


def test_a_tall_matrix_pairs_every_column_with_rows_in_order():
    cost = np.array([[5.0, 9.0], [1.0, 9.0], [9.0, 0.5]])
    rows, cols = min_cost_assignment(cost)
    assert list(rows) == [1, 2] and list(cols) == [0, 1]


def test_empty_and_invalid_matrices():
    rows, cols = min_cost_assignment(np.zeros((0, 3)))
    assert rows.size == cols.size == 0
    with pytest.raises(ValueError, match="finite"):
        min_cost_assignment(np.array([[np.inf, 1.0]]))


def test_the_service_does_not_import_scipy():
    # scipy.optimize costs the service process 41 MB of memory; the tracker must not bring it back
    code = "import sys, service.app, service.tracking, service.routes.stream; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
