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
    assert act.clip.grad.item() == 1.0  # only the clipped input reaches the clip level
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
