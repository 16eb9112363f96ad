"""The cheapest one-to-one assignment of rows to columns of a cost matrix (the Hungarian method).

The stream tracker matches a few dozen tracks to a few dozen faces per frame; scipy's
``linear_sum_assignment`` does the same, but importing ``scipy.optimize`` costs the service 41 MB of resident
memory (measured, PSS), a fifth of its budget, for a problem this small. This is the shortest-augmenting-path
form with row and column potentials (Kuhn-Munkres as in Jonker and Volgenant): O(n^2 m) for n <= m, one row
added per outer step, the inner scan over columns done by numpy.
"""

from __future__ import annotations

import numpy as np


def min_cost_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of a minimum-cost matching of min(n, m) pairs, sorted by row, as scipy's
    ``linear_sum_assignment`` returns them. ``cost`` is (n, m) and finite."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or not np.isfinite(cost).all():
        raise ValueError("cost must be a finite 2-D matrix")
    if cost.shape[0] > cost.shape[1]:
        cols, rows = min_cost_assignment(cost.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    n, m = cost.shape
    row_of = np.zeros(m + 1, np.int64)  # row_of[j]: 1-based row assigned to column j (1-based), 0 for none
    u, v = np.zeros(n + 1), np.zeros(m + 1)  # the potentials: u[i] + v[j] <= cost[i - 1, j - 1]
    for i in range(1, n + 1):
        row_of[0], j0 = i, 0  # column 0 is a virtual start holding the new row
        min_slack = np.full(m + 1, np.inf)
        came_from = np.zeros(m + 1, np.int64)
        used = np.zeros(m + 1, bool)
        while True:  # grow the alternating tree until it reaches a free column
            used[j0] = True
            slack = cost[row_of[j0] - 1] - u[row_of[j0]] - v[1:]
            free = ~used[1:]
            better = free & (slack < min_slack[1:])
            min_slack[1:][better] = slack[better]
            came_from[1:][better] = j0
            candidates = np.where(free, min_slack[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[row_of[used]] += delta
            v[used] -= delta
            min_slack[1:][free] -= delta
            j0 = j1
            if row_of[j0] == 0:
                break
        while j0:  # flip the path back to the start: every column on it takes its predecessor's row
            j1 = came_from[j0]
            row_of[j0] = row_of[j1]
            j0 = j1
    cols = np.flatnonzero(row_of[1:])
    rows = row_of[1:][cols] - 1
    order = np.argsort(rows)
    return rows[order], cols[order]
