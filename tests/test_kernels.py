"""The compiled kernels give bit for bit the numbers of the PyTorch code they replace."""
import hashlib
import shutil
import sysconfig

import pytest
import torch
import torch.nn.functional as F

from flatenn import kernels, models, sparsity, train
from flatenn.sparsity import FatPact

needs_kernels = pytest.mark.skipif(not kernels.available(), reason="flatenn._kernels not built")


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit patterns, except that any NaN equals any NaN (payloads differ between code paths)."""
    nan = torch.isnan(a)
    return bool(torch.equal(nan, torch.isnan(b)) and torch.equal(a[~nan].view(torch.int32), b[~nan].view(torch.int32)))


def test_kernels_are_built_where_a_compiler_is():
    if shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]) is None:
        pytest.skip("no C compiler: the PyTorch code runs")
    assert kernels.available(), "pip install -e . should have built flatenn._kernels"


def awkward_inputs(clip: float, threshold: float, step: float) -> torch.Tensor:
    """Random values plus the edges: the threshold, the clip, half steps (ties to even), zeros, inf, NaN."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, 33, 31, generator=g) * 2 * abs(clip)
    edges = torch.tensor([threshold, clip, -0.0, 0.0, 2.5 * step, 3.5 * step, 0.5 * step, 1e-30, -1e-30,
                          float("inf"), -float("inf"), float("nan"), clip * 1.0000001, clip * 0.9999999])
    x.view(-1)[:len(edges)] = edges
    return x


@needs_kernels
@pytest.mark.parametrize("clip", [6.0, 255.0, 1.234567, 1e-3, -0.5])
@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.7])
@pytest.mark.parametrize("levels", [255, 15, 3])
def test_fat_pact_kernel_matches_pytorch(clip, threshold, levels):
    c = torch.tensor(clip)
    x = awkward_inputs(clip, threshold, clip / levels)
    fused = kernels.fat_pact(x, c, threshold, levels, want_sum=True)
    with kernels.disabled():
        assert kernels.fat_pact(x, c, threshold, levels) is None
        reference = sparsity.fat_pact_reference(x, c, threshold, levels, want_sum=True)
    for a, b in zip(fused, reference):
        assert same_bits(a, b)
    assert same_bits(kernels.fat_pact(x, c, threshold, levels, masks=False)[0], fused[0])
    # known answer: clip 255 at 8 bits is step 1, so 2.5 rounds to 2 and 3.5 to 4 (half to even)
    if clip == 255.0 and levels == 255:
        assert fused[0].view(-1)[4:6].tolist() == [2.0, 4.0]


def test_lane_sum_adds_in_its_declared_order():
    """kernels.lane_sum (the kernels' order, in PyTorch): value i to lane i % 8, each lane in order
    from +0.0 in double, then lanes 0 to 7; known answers where another order gives other bits."""
    values = [2.0 ** 60, 1.0, 3.0, -(2.0 ** 60), 1.0, 1.0, 5.0, 7.0, -(2.0 ** 60), 1.0, 2.0 ** -30, 2.0 ** 60]
    t = torch.tensor(values, dtype=torch.float32)
    lanes = [0.0] * 8
    for i, v in enumerate(t.tolist()):
        lanes[i % 8] += v
    want = lanes[0]
    for v in lanes[1:]:
        want += v
    got = kernels.lane_sum(t)
    assert got.dtype == torch.float64 and got.item() == want
    assert want != sum(t.tolist()) and want != float(t.double().sum())  # the order is what it pins
    assert kernels.lane_sum(torch.ones(1000, 3)).item() == 3000.0
    assert str(kernels.lane_sum(torch.tensor([-0.0, -0.0, -0.0])).item()) == "0.0"  # lanes start at +0.0
    cl = torch.arange(24.0).reshape(1, 2, 3, 4).contiguous(memory_format=torch.channels_last) * 2.0 ** -20
    assert kernels.lane_sum(cl).item() == kernels.lane_sum(cl.permute(0, 2, 3, 1).reshape(-1)).item()


@needs_kernels
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("with_sum", [False, True])
def test_fat_pact_backward_kernel_matches_pytorch(layout, with_sum):
    """Both derivatives and the sum, through autograd, with and without the kernels: the same bits,
    for a gradient in x's layout and for a row-major one (a mean's backward), which comes back in
    x's layout."""
    clip = 1.234567
    x0 = awkward_inputs(clip, 0.1, clip / 255).contiguous(memory_format=layout)
    g = torch.Generator().manual_seed(2)
    w = torch.randn(x0.shape, generator=g) * torch.logspace(-8, 8, x0.shape[-1])
    w.view(-1)[:3] = torch.tensor([-0.0, float("inf"), 1e-38])

    def grads(weights):
        x, c = x0.clone().requires_grad_(), torch.tensor(clip, requires_grad=True)
        y, total = FatPact.apply(x, c, 0.1, 255, with_sum)
        loss = torch.nansum(y * weights) + (0.3 * total if with_sum else 0.0)
        dx, dc = torch.autograd.grad(loss, (x, c))
        return dx, dc, total.detach()

    for weights in (w.contiguous(memory_format=layout), w.contiguous()):
        fused = grads(weights)
        with kernels.disabled():
            reference = grads(weights)
        assert all(same_bits(a, b) for a, b in zip(fused, reference))
        assert fused[0].stride() == x0.stride()
    assert (fused[2].item() != 0) == with_sum


@needs_kernels
def test_fat_pact_kernel_on_strided_input_and_values_only_path():
    x = awkward_inputs(6.0, 0.1, 6 / 255).transpose(1, 2)  # not contiguous
    act = sparsity.QAct(8, threshold=0.1)
    with torch.no_grad():
        fused = act(x)
        with kernels.disabled():
            reference = act(x)
    assert same_bits(fused, reference)


@needs_kernels
@pytest.mark.parametrize("shape", [(4, 6, 28, 28), (3, 2, 7, 9), (1, 1, 2, 2)])
def test_max_pool_kernel_matches_aten(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.round(torch.randn(shape, generator=g) * 2)  # ties in most windows
    x.view(-1)[:4] = torch.tensor([float("nan"), 1.0, float("nan"), -float("inf")])[:x.numel()]
    x.requires_grad_(True)
    pool = models.MaxPool2d(2)
    y = pool(x)
    values, indices = F.max_pool2d_with_indices(x, 2)
    assert same_bits(y.detach(), values.detach())
    assert torch.equal(torch.ops.aten.max_pool2d_with_indices(x.detach(), [2, 2], [2, 2])[1], indices)
    w = torch.randn(y.shape, generator=g)
    (gx,) = torch.autograd.grad((y * w).nansum(), x)
    (gx_ref,) = torch.autograd.grad((values * w).nansum(), x)
    assert torch.equal(gx, gx_ref)  # the gradient lands on the same (first) maximum of each window


def test_max_pool_other_shapes_fall_back():
    x = torch.randn(2, 3, 9, 9)
    for kw in ({"kernel_size": 3}, {"kernel_size": 2, "stride": 1}, {"kernel_size": 2, "padding": 1},
               {"kernel_size": 2, "ceil_mode": True}):
        assert torch.equal(models.MaxPool2d(**kw)(x), torch.nn.MaxPool2d(**kw)(x))


@needs_kernels
@pytest.mark.parametrize("shape", [(12, 96, 28, 28), (3, 2, 6, 10), (1, 1, 2, 2)])
def test_deployed_pooling_kernel_gives_the_values_of_torch_maximum(shape):
    g = torch.Generator().manual_seed(2)
    u = torch.round(torch.randn(shape, generator=g) * 3)  # ties in most windows
    u.view(-1)[:4] = torch.tensor([-float("inf"), float("nan"), 7.0, float("inf")])[:u.numel()]
    maximum = torch.maximum(torch.maximum(u[..., 0::2, 0::2], u[..., 0::2, 1::2]),
                            torch.maximum(u[..., 1::2, 0::2], u[..., 1::2, 1::2]))
    pooled = kernels.max_pool_values(u)
    nan = torch.isnan(maximum)
    # The same values; a tie of -0 and +0 may keep either (so does torch.maximum, by vector width),
    # and the deployed pass's next step (c + a * sum, then thresholding) erases that sign.
    assert torch.equal(torch.isnan(pooled), nan) and torch.equal(pooled[~nan], maximum[~nan])
    assert kernels.max_pool_values(u.contiguous(memory_format=torch.channels_last)) is None or shape[1] == 1
    assert kernels.max_pool_values(torch.zeros(1, 1, 3, 4)) is None  # odd height: not the kernel's
    assert kernels.max_pool_values(torch.zeros(1, 1, 2, 0)) is None  # empty: no row buffer of size 0


@needs_kernels
def test_hessian_vector_products_through_kernels_match_pytorch():
    from flatenn import fastgrad, hessian, sharpness

    torch.manual_seed(0)
    model = models.build("lenet5", (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8})
    model, _, params = sharpness.at_quantized_weights(model)
    x, y = torch.rand(40, 1, 28, 28), torch.randint(0, 10, (40,))
    v = {k: torch.randn_like(p) for k, p in params.items()}
    loss = fastgrad.make_loss(model, x, y)
    fused = hessian.hvp(loss, params, v)
    with kernels.disabled():
        reference = hessian.hvp(loss, params, v)
    for k in params:
        assert torch.equal(fused[k], reference[k]), k


def trained_hash(arch: str = "lenet5", steps: int = 6) -> str:
    """sha256 of a network's state after SAQ steps with threshold and penalty on (every kernel runs;
    a ResNet's last stage also gets a row-major gradient from its head)."""
    torch.manual_seed(0)
    model = models.build(arch, (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8})
    model.train()
    sparsity.set_threshold(model, 0.1)
    sparsity.keep_outputs(model, True)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
        opt.zero_grad(set_to_none=True)
        train.saq_step(model, x, y, 0.3, "l1", 0.05)
        opt.step()
    return hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()


@needs_kernels
@pytest.mark.parametrize("arch,steps", [("lenet5", 6), ("resnet8", 2)])
def test_training_with_kernels_gives_the_same_model(arch, steps):
    fused = trained_hash(arch, steps)
    with kernels.disabled():
        assert trained_hash(arch, steps) == fused


@needs_kernels
def test_scale_channels_rounds_after_each_product():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 6, 7, 9, generator=g) * 1e3
    x.view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -0.0])
    a, b = torch.rand(1, 6, 1, 1, generator=g) * 3, torch.randn(1, 6, 1, 1, generator=g)
    assert same_bits(kernels.scale_channels(x, a, b), x * a * b)
    assert not same_bits(kernels.scale_channels(x, a, b), x * (a * b))  # the order is what matters
    with kernels.disabled():
        assert same_bits(kernels.scale_channels(x, a, b), x * a * b)


@pytest.mark.skipif(not kernels.available(), reason="flatenn._kernels is not built")
def test_every_address_handed_to_c_is_checked_first():
    """A caller's wrong-length, wrong-dtype or wrong-device tensor raises ValueError naming it;
    no memory is read or written. (Where x itself is not a CPU float32 tensor, the PyTorch code
    runs instead and touches no address.)"""
    x = torch.rand(2, 3, 4, 4)
    ok = torch.rand(1, 3, 1, 1)
    for bad, what in ((torch.rand(1, 4, 1, 1), "a has 4 values, the kernel reads 3"),
                      (torch.rand(1, 3, 1, 1, device="meta"), "a is on meta"),
                      (torch.rand(1, 3, 1, 1, dtype=torch.float64), "a is torch.float64")):
        with pytest.raises(ValueError, match=f"kernels.scale_channels: {what}"):
            kernels.scale_channels(x, bad, ok)
    with pytest.raises(ValueError, match="kernels.scale_channels: b has 2 values"):
        kernels.scale_channels(x, ok, torch.rand(2))
    c = torch.tensor(1.0)
    with pytest.raises(ValueError, match="kernels.fat_pact_backward: grad has 48 values, the kernel reads 96"):
        kernels.fat_pact_backward(torch.rand(1, 3, 4, 4), x, c, 0.1, 255, None)
    with pytest.raises(ValueError, match="kernels.fat_pact_backward: grad is not dense in the layout of the others"):
        kernels.fat_pact_backward(x.contiguous(memory_format=torch.channels_last), x, c, 0.1, 255, None)
    assert kernels.fat_pact_backward(x, x, c, 0.1, 255, torch.tensor(1.0, dtype=torch.float64)) is None
    meta = torch.empty(2, 3, 4, 4, device="meta")
    assert kernels.fat_pact(meta, torch.tensor(1.0), 0.1, 255) is None
    assert kernels.max_pool_values(meta) is None
    for entry, length, tensors in (("fat_pact", 5, {"x": torch.rand(6)}), ("max_pool_2x2", 4, {"y": torch.rand(3)}),
                                   ("max_pool_values", 9, {"u": torch.rand(2, 2).t()})):
        with pytest.raises(ValueError, match=f"kernels.{entry}: "):
            kernels._require(entry, length, **tensors)
