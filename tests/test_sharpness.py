import torch

from flatenn import sharpness

A = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64)
B = torch.diag(torch.tensor([2.0, -1.0], dtype=torch.float64))


def quadratic(params):
    w, v = params["w"], params["v"]
    return 0.5 * w @ A @ w + 0.5 * v @ B @ v + w.sum() * 0.0


def params():
    return {"w": torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64),
            "v": torch.tensor([1.0, 2.0], dtype=torch.float64)}


def test_hvp_is_the_hessian_times_v():
    v = {"w": torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64), "v": torch.tensor([1.0, 1.0], dtype=torch.float64)}
    hv = sharpness.hvp(quadratic, params(), v)
    assert torch.allclose(hv["w"], A @ v["w"]) and torch.allclose(hv["v"], B @ v["v"])


def test_top_eigenvalue_and_trace_match_the_analytic_values():
    top = torch.linalg.eigvalsh(torch.block_diag(A, B)).abs().max().item()
    res = sharpness.top_eigenvalue(quadratic, params(), iters=500, tol=1e-10,
                                   generator=torch.Generator().manual_seed(0))
    assert abs(res["value"] - top) / top < 1e-3
    tr = sharpness.hessian_trace(quadratic, params(), samples=4000, generator=torch.Generator().manual_seed(0))
    exact = (torch.trace(A) + torch.trace(B)).item()
    assert abs(tr["value"] - exact) / exact < 1e-3 or abs(tr["value"] - exact) < 3 * tr["stderr"]


def test_trace_exact_for_diagonal_hessian():
    # Rademacher vectors give v^T D v = tr(D) exactly for a diagonal Hessian.
    f = lambda p: 0.5 * (p["v"] @ B @ p["v"])  # noqa: E731
    tr = sharpness.hessian_trace(f, {"v": params()["v"]}, samples=3, generator=torch.Generator().manual_seed(1))
    assert abs(tr["value"] - 1.0) < 1e-12


def test_eps_sharpness_of_quadratic():
    # From the minimum of 0.5 w^T A w the largest increase within radius r is 0.5 * lmax * r^2.
    p = {"w": torch.tensor([1e-6, 0.0, 0.0], dtype=torch.float64)}
    f = lambda q: 0.5 * q["w"] @ A @ q["w"]  # noqa: E731
    res = sharpness.eps_sharpness(f, p, rho=1e5, steps=50)
    r = res["radius"]
    assert abs(res["value"] - 0.5 * torch.linalg.eigvalsh(A).max().item() * r ** 2) / res["value"] < 1e-2


def test_filter_normalized_direction_has_filter_norms():
    w = {"conv": torch.randn(6, 3, 5, 5), "fc": torch.randn(10, 84)}
    d = sharpness.filter_normalized_direction(w, torch.Generator().manual_seed(0))
    for k in w:
        assert torch.allclose(d[k].flatten(1).norm(dim=1), w[k].flatten(1).norm(dim=1), rtol=1e-5)
    again = sharpness.filter_normalized_direction(w, torch.Generator().manual_seed(0))
    assert all(torch.equal(d[k], again[k]) for k in w)


def test_measure_on_a_model_is_deterministic():
    from flatenn import models

    torch.manual_seed(0)
    cfg = dict(power_iters=5, tol=1e-3, hutchinson_samples=3, eps_rho=0.05, eps_steps=2, fault_rate=1e-3,
               fault_samples=2, landscape_1d_points=5, landscape_2d_points=3, landscape_range=1.0)
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (64,))
    q = {"weight_bits": 8, "act_bits": 8}
    state = models.build("lenet5", (1, 28, 28), 10, q).state_dict()
    runs = []
    for _ in range(2):
        m = models.build("lenet5", (1, 28, 28), 10, q)
        m.load_state_dict(state)
        runs.append(sharpness.measure(m.eval(), x, y, cfg, seed=3))
    assert runs[0] == runs[1]
    assert runs[0]["hessian_top_eig"] > 0 and len(runs[0]["landscape_2d"]["loss"]) == 3
    mid = runs[0]["landscape_1d"]["loss"][2]
    assert abs(mid - runs[0]["loss"]) < 1e-6  # step 0 is the model itself
