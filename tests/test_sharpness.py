import copy

import pytest
import torch

from flatenn import fastgrad, faults, hessian, registry, sharpness
from flatenn.quant import dequantize

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
    hv = hessian.hvp(quadratic, params(), v)
    assert torch.allclose(hv["w"], A @ v["w"]) and torch.allclose(hv["v"], B @ v["v"])


def test_top_eigenvalue_and_trace_match_the_analytic_values():
    top = torch.linalg.eigvalsh(torch.block_diag(A, B)).abs().max().item()
    res = hessian.top_eigenvalue(quadratic, params(), iters=500, tol=1e-10,
                                   generator=torch.Generator().manual_seed(0))
    assert abs(res["value"] - top) / top < 1e-3
    tr = hessian.hessian_trace(quadratic, params(), samples=4000, generator=torch.Generator().manual_seed(0))
    exact = (torch.trace(A) + torch.trace(B)).item()
    assert abs(tr["value"] - exact) / exact < 1e-3 or abs(tr["value"] - exact) < 3 * tr["stderr"]


def test_trace_exact_for_diagonal_hessian():
    # Rademacher vectors give v^T D v = tr(D) exactly for a diagonal Hessian.
    f = lambda p: 0.5 * (p["v"] @ B @ p["v"])  # noqa: E731
    tr = hessian.hessian_trace(f, {"v": params()["v"]}, samples=3, generator=torch.Generator().manual_seed(1))
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
               fault_samples=2, landscape_1d_points=5, landscape_2d_points=3, landscape_range=1.0,
               fault_types=["bitflip", "sa0", "sa1"])
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


def test_normalized_operator_is_d_h_d():
    d = {"w": torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64), "v": torch.tensor([3.0, 1.0], dtype=torch.float64)}
    D = torch.diag(torch.cat([d["w"], d["v"]]))
    H = D @ torch.block_diag(A, B) @ D
    top = torch.linalg.eigvalsh(H).abs().max().item()
    res = hessian.top_eigenvalue(quadratic, params(), iters=500, tol=1e-10, scale=d,
                                   generator=torch.Generator().manual_seed(0))
    assert abs(res["value"] - top) / top < 1e-3
    tr = hessian.hessian_trace(quadratic, params(), samples=3000, scale=d, generator=torch.Generator().manual_seed(0))
    assert abs(tr["value"] - H.trace().item()) < 4 * tr["stderr"] + 1e-9


def test_one_operator_gives_the_products_of_fresh_ones():
    """The gradient's graph is built once and reused: every product equals a fresh one."""
    p = params()
    hv = hessian.hessian_operator(quadratic, p)
    for seed in range(3):
        v = {k: torch.randn(t.shape, generator=torch.Generator().manual_seed(seed), dtype=t.dtype) for k, t in p.items()}
        a, b = hv(v), hessian.hvp(quadratic, p, v)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_normalized_hessian_ignores_a_rescaled_filter_before_batchnorm():
    """Scaling a conv's filters by c (and its BN statistics by c, c^2) leaves the function
    and the normalized metrics alone; the raw Hessian moves by about 1/c^2 in that block."""
    from flatenn import data, models

    ds = data.load("digits", val_size=100)
    x, y = ds.train.x[:200], ds.train.y[:200]
    results = []
    for c in (1.0, 4.0):
        torch.manual_seed(0)
        m = models.build("lenet5", ds.shape, 10, {"weight_bits": 8, "act_bits": 8}).eval()
        conv, bn = m.body[0], m.body[1]
        bn.eps = 0.0
        with torch.no_grad():
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
            conv.weight.mul_(c), bn.running_mean.mul_(c), bn.running_var.mul_(c * c)
        model, _, p = sharpness.at_quantized_weights(m)
        loss = fastgrad.make_loss(model, x.float() / 255, y)
        norms = sharpness.filter_norms(p)
        gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
        results.append({
            "loss": float(loss(p)),
            "raw": hessian.hessian_trace(loss, p, samples=20, generator=gen())["value"],
            "eig_n": hessian.top_eigenvalue(loss, p, iters=100, tol=1e-6, generator=gen(), scale=norms)["value"],
            "trace_n": hessian.hessian_trace(loss, p, samples=20, generator=gen(), scale=norms)["value"],
        })
    a, b = results
    assert abs(a["loss"] - b["loss"]) < 1e-4 * a["loss"]
    assert abs(a["eig_n"] - b["eig_n"]) < 1e-3 * abs(a["eig_n"])
    assert abs(a["trace_n"] - b["trace_n"]) < 1e-3 * abs(a["trace_n"])
    assert abs(a["raw"] - b["raw"]) > 0.01 * abs(a["raw"])


def test_column_stem_gives_the_loss_and_products_of_the_convolution():
    """The stem read as a product over image columns is the same function of the weights
    (LeNet-5: padded 5x5 on 1 channel; ResNet-8: 3x3 on 3 channels; a stem with a bias)."""
    import torch.nn.functional as F
    from torch.func import functional_call

    from flatenn import models

    q = {"weight_bits": 8, "act_bits": 8}
    for arch, shape in (("lenet5", (1, 28, 28)), ("resnet8", (3, 12, 12)), ("lenet5", (2, 16, 16))):
        torch.manual_seed(0)
        m = models.build(arch, shape, 10, q).eval()
        if shape[0] == 2:  # give the stem a bias
            m.body[0].bias = torch.nn.Parameter(torch.randn(m.body[0].out_channels))
        model, _, p = sharpness.at_quantized_weights(m)
        x, y = torch.rand(40, *shape), torch.randint(0, 10, (40,))
        column = fastgrad.make_loss(model, x, y, chunk=16)
        assert isinstance(fastgrad._column_form(model, x)[0].body[0], fastgrad.ColumnStem)

        def conv(params):
            return F.cross_entropy(functional_call(model, params, (x,)), y)

        assert abs(float(column(p)) - float(conv(p))) < 1e-5
        v = {k: torch.randn_like(t) for k, t in p.items()}
        a, b = hessian.hvp(column, p, v), hessian.hvp(conv, p, v)
        for k in p:
            assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-4 * float(b[k].abs().max())), (arch, k)


def test_sharpness_does_not_import_dynamo():
    """torch.func's vjp/grad import torch._dynamo (2 s per job); the measures use plain autograd."""
    import subprocess
    import sys

    code = ("import sys, torch\nfrom flatenn import models, sharpness\n"
            "m = models.build('lenet5', (1, 28, 28), 10, {'weight_bits': 8, 'act_bits': 8}).eval()\n"
            "cfg = dict(power_iters=2, tol=1e-3, hutchinson_samples=1, eps_rho=0.05, eps_steps=1, fault_rate=1e-3,"
            " fault_samples=1, landscapes=False, fault_types=['bitflip'])\n"
            "sharpness.measure(m, torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8), torch.arange(8), cfg, seed=0)\n"
            "assert 'torch._dynamo' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hvp_of_a_linear_loss_is_zero():
    """A gradient that does not depend on the weights has no graph to differentiate: H v = 0."""
    p = {"w": torch.tensor([1.0, 2.0])}
    assert torch.equal(hessian.hvp(lambda q: 3 * q["w"].sum(), p, {"w": torch.ones(2)})["w"], torch.zeros(2))


def test_frozen_batchnorm_gives_the_numbers_of_batchnorm(monkeypatch):
    """Loss, gradient and Hessian-vector products to the bit, with BatchNorm2d or FrozenBatchNorm."""
    from flatenn import models

    q = {"weight_bits": 8, "act_bits": 8}
    for arch, shape in (("lenet5", (1, 28, 28)), ("resnet8", (3, 12, 12))):
        results = []
        for frozen in (True, False):
            torch.manual_seed(0)
            m = models.build(arch, shape, 10, q).eval()
            for bn in (b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)):
                with torch.no_grad():
                    bn.running_mean.uniform_(-0.3, 0.3), bn.running_var.uniform_(0.2, 3.0)
                    bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.2, 0.2)
            if not frozen:
                monkeypatch.setattr(fastgrad, "freeze_batch_norms", lambda model: None)
            model, _, p = sharpness.at_quantized_weights(m)
            monkeypatch.undo()
            assert any(isinstance(b, fastgrad.FrozenBatchNorm) for b in model.modules()) == frozen
            x, y = torch.rand(40, *shape, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 10
            loss = fastgrad.make_loss(model, x, y)
            v = {k: torch.randn(t.shape, generator=torch.Generator().manual_seed(2)) for k, t in p.items()}
            results.append((loss(p), hessian.gradient(loss, p), hessian.hvp(loss, p, v)))
        (la, ga, ha), (lb, gb, hb) = results
        assert torch.equal(la, lb), arch
        for k in ga:
            assert torch.equal(ga[k], gb[k]) and torch.equal(ha[k], hb[k]), (arch, k)


def test_weighted_trace_is_the_weighted_diagonal_from_the_same_products():
    """sum(W * diag H): exact for a diagonal Hessian at any sample; for a full one, the mean of
    many samples; the plain trace is unchanged by the weightings."""
    f = lambda p: 0.5 * (p["v"] @ B @ p["v"])  # noqa: E731
    w = {"v": torch.tensor([3.0, 5.0], dtype=torch.float64)}
    tr = hessian.hessian_trace(f, {"v": params()["v"]}, samples=2, generator=torch.Generator().manual_seed(1),
                                 weights={"w": w})
    assert tr["weighted"]["w"][0] == 3.0 * 2.0 + 5.0 * -1.0 and tr["value"] == 1.0
    wa = {"w": torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), "v": torch.zeros(2, dtype=torch.float64)}
    many = hessian.hessian_trace(quadratic, params(), samples=4000, generator=torch.Generator().manual_seed(0),
                                   weights={"a": wa})
    plain = hessian.hessian_trace(quadratic, params(), samples=4000, generator=torch.Generator().manual_seed(0))
    assert many["value"] == plain["value"]
    exact = float((wa["w"] * torch.diagonal(A)).sum())  # 4 + 6 + 0.5
    mean, stderr = many["weighted"]["a"]
    assert abs(mean - exact) < 4 * stderr and stderr < 0.1


@pytest.mark.parametrize("fault", registry.FAULTS)
def test_fault_geometry_gives_the_first_order_loss_rise_of_every_single_cell_fault(fault):
    """For a quadratic loss, the loss rise summed over every single-cell fault the injector can
    make (the first-order term in the cell fault rate) is g . mean + sum(diag H * square) / 2
    exactly: the geometry's signs, sign bit and per-channel scales are the injector's."""
    q = torch.tensor([[3, -77, 127], [-128, 0, 64]], dtype=torch.int8)
    entry = {"q": q, "scale": torch.tensor([[0.02], [0.5]], dtype=torch.float64), "bits": 8}
    w = dequantize(entry).flatten()
    a = torch.tensor([[4.0, 1, 0, 0, 0, 0.5], [1, 3, 0.5, 0, 0, 0], [0, 0.5, 2, 0, 0, 0], [0, 0, 0, 1, 0.2, 0],
                      [0, 0, 0, 0.2, 5, 0], [0.5, 0, 0, 0, 0, 1]], dtype=torch.float64)
    b = torch.tensor([0.3, -1.0, 0.2, 0.7, -0.1, 0.4], dtype=torch.float64)
    loss = lambda x: 0.5 * x @ a @ x + b @ x  # noqa: E731
    rise = 0.0
    for i in range(q.numel()):
        for bit in registry.fault(fault).eligible(8):  # the cells this fault model can hit
            faulty = faults.apply_map(q, fault, 8, torch.tensor([i]), torch.tensor([1 << bit]))
            rise += float(loss(dequantize(entry, faulty).flatten()) - loss(w))
    g = sharpness.fault_geometry({"l.weight": w.view(2, 3)}, {"l": entry}, [fault])[fault]
    predicted = float((a @ w + b) @ g["mean"]["l.weight"].flatten()
                      + 0.5 * (torch.diagonal(a) * g["square"]["l.weight"].flatten()).sum())
    assert predicted == pytest.approx(rise, rel=1e-12)


def test_measure_reports_fault_curvatures_and_a_prediction_of_the_same_order(trained):
    """On a trained network: positive curvatures, bit flips the widest (every cell moves), and
    the quadratic prediction within 2x of the injected loss rise (high-bit flips are large moves)."""
    ds, nets = trained
    cfg = {"power_iters": 3, "tol": 1e-3, "hutchinson_samples": 10, "eps_rho": 0.05, "eps_steps": 1,
           "fault_rate": 0.002, "fault_samples": 10, "landscapes": False, "fault_types": ["bitflip", "sa0", "sa1"]}
    res = sharpness.measure(copy.deepcopy(nets["standard"]), ds.train.x[:300], ds.train.y[:300], cfg, seed=0)
    assert res["fault_curvature_bitflip"] > max(res["fault_curvature_sa0"], res["fault_curvature_sa1"]) > 0
    assert 0.5 < res["fault_sharpness_predicted"] / res["fault_sharpness"] < 2
