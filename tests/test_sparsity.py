import pytest
import torch

from flatenn import sparsity
from flatenn.sparsity import QAct


def test_fatrelu_zeroes_below_threshold():
    act = QAct(bits=None, threshold=0.5)
    x = torch.tensor([-1.0, 0.2, 0.5, 0.75, 3.0])
    assert act(x).tolist() == [0.0, 0.0, 0.0, 0.75, 3.0]


def test_activation_quantizer_known_answer_and_clip_gradient():
    act = QAct(bits=2, clip_init=3.0)  # levels 0, 1, 2, 3
    x = torch.tensor([-1.0, 0.4, 0.6, 1.6, 2.4, 5.0], requires_grad=True)
    y = act(x)
    assert y.tolist() == [0.0, 0.0, 1.0, 2.0, 2.0, 3.0]
    y.sum().backward()
    # the clipped input gives 1; the rounding terms (round(v) - v) / 3 cancel here: -.4 +.4 +.4 -.4
    assert act.clip.grad.item() == pytest.approx(1.0, abs=1e-6)
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_meter_counts_zeros_after_quantization():
    model = torch.nn.Sequential(QAct(bits=8, clip_init=1.0), torch.nn.Identity(), QAct(bits=None))
    x = torch.tensor([[0.001, 0.5, -1.0, 0.9]])  # 0.001 rounds to zero at 8 bits
    res = sparsity.measure(model, [(x, None)])
    assert res["per_layer"] == {"0": 0.5, "2": 0.5}
    assert res["overall"] == 0.5


def test_penalties():
    model = torch.nn.Sequential(QAct(bits=None))
    sparsity.keep_outputs(model, True)
    model(torch.tensor([[1.0, 0.0, 3.0, 0.0]]))
    assert sparsity.penalty(model, "l1").item() == 1.0
    # Hoyer: (4^2 / 10) / 4 = 0.4
    assert abs(sparsity.penalty(model, "hoyer").item() - 0.4) < 1e-6


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_fused_quantizer_has_the_values_and_gradients_of_the_autograd_chain(threshold):
    """FatPact against the composition it replaces: x * (x > t), minimum(., clip), STE round."""
    from flatenn.quant import round_ste
    from flatenn.sparsity import FatPact

    def chain(x, clip):
        y = torch.relu(x) if threshold <= 0 else x * (x > threshold)
        step = clip / 255
        return round_ste(torch.minimum(y, clip) / step) * step

    torch.manual_seed(0)
    x = (torch.randn(8, 6, 12, 12) * 2).requires_grad_()
    clip = torch.tensor(2.5, requires_grad=True)
    g = torch.randn(8, 6, 12, 12)
    grads = []
    for f in (chain, lambda a, c: FatPact.apply(a, c, threshold, 255)[0]):
        out = f(x, clip)
        (out * g).sum().backward()
        grads.append((out.detach(), x.grad.clone(), clip.grad.clone()))
        x.grad, clip.grad = None, None
    (o1, gx1, gc1), (o2, gx2, gc2) = grads
    assert torch.equal(o1, o2)
    assert torch.allclose(gx1, gx2, atol=1e-6)
    assert torch.allclose(gc1, gc2, rtol=1e-5)
    assert gc1.abs() > 1  # the clip gradient is not trivially zero here


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_quantizer_without_gradients_gives_the_same_values(threshold):
    """Inference (no grad) skips the saved masks; the values must not change."""
    act = QAct(bits=8, threshold=threshold, clip_init=2.5)
    x = torch.randn(4, 6, 12, 12, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        fast = act(x)
    assert torch.equal(act(x), fast)


def test_l1_from_the_quantizers_sum_has_the_gradients_of_the_tensor_penalty(monkeypatch):
    """The L1 penalty read from the quantizer's own sum (registry.Penalty.from_sum; its gradient
    taken inside FatPact's backward) against the same penalty on the kept activations, whose
    gradient autograd adds as a tensor: the same loss and gradients to summation order, on a
    ResNet-8 with the threshold on (every parameter, the clipping levels included)."""
    from flatenn import models, registry, train

    torch.manual_seed(0)
    model = models.build("resnet8", (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8})
    sparsity.set_threshold(model, 0.1)
    sparsity.keep_outputs(model, True)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))

    def loss_and_grads():
        model.zero_grad(set_to_none=True)
        loss = train.loss_fn(model, x, y, 0.05, "l1")
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}

    fused = loss_and_grads()
    record = registry.penalty("l1")
    monkeypatch.setitem(registry.PENALTIES, "l1", registry.Penalty("l1", record.per_layer))  # no from_sum
    tensor = loss_and_grads()
    assert fused[0] == pytest.approx(tensor[0], rel=1e-6)
    for n, g in tensor[1].items():
        assert torch.allclose(fused[1][n], g, rtol=1e-4, atol=1e-7), n
    assert any(n.endswith("clip") and g.abs().sum() > 0 for n, g in fused[1].items())


def test_batchnorm_backward_gets_gradients_in_its_inputs_layout():
    """In a channels-last ResNet every BatchNorm's output gradient is channels-last, also in the last
    stage, where the head's mean sends a row-major one (which BatchNorm's backward runs 3x slower)."""
    from flatenn import models, quant, train

    torch.manual_seed(0)
    model = models.build("resnet8", (1, 28, 28), 10, {"weight_bits": 8, "act_bits": 8})
    quant.set_layout(model, torch.channels_last)
    sparsity.set_threshold(model, 0.1)
    seen = []
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.register_full_backward_hook(lambda mod, gin, gout: seen.append(
                gout[0].is_contiguous(memory_format=torch.channels_last)))
    train.loss_fn(model, torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,)), 0.0, "l1").backward()
    assert len(seen) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) and all(seen)
