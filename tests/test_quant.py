import pytest
import torch

from flatenn import models
from flatenn.quant import (clear_deployed, export_memory_image, load_memory_image, quant_layers,
                           quantize_weight, round_ste)

Q8 = {"weight_bits": 8, "act_bits": 8, "quantize_first_last": True}


def test_round_ste_passes_gradient_straight_through():
    x = torch.tensor([0.2, 0.7, -1.4], requires_grad=True)
    y = round_ste(x)
    y.sum().backward()
    assert y.tolist() == [0.0, 1.0, -1.0]
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_weight_quantization_known_answer():
    w = torch.tensor([[7.0, -3.0, 2.6], [0.625, 0.0, -1.75]])
    q, scale = quantize_weight(w, 4)  # qmax = 7, one max-abs scale per output channel
    assert scale.flatten().tolist() == [1.0, 0.25]
    assert q.tolist() == [[7.0, -3.0, 3.0], [2.0, 0.0, -7.0]]  # 2.5 rounds half to even


@pytest.mark.parametrize("arch,shape", [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32))])
@pytest.mark.parametrize("bits", [4, 8])
def test_model_rebuilt_from_image_gives_identical_logits(arch, shape, bits):
    torch.manual_seed(0)
    model = models.build(arch, shape, 10, {**Q8, "weight_bits": bits}).eval()
    x = torch.randint(0, 256, (16, *shape), dtype=torch.uint8)
    with torch.no_grad():
        fake_quant = model(x)
    image = export_memory_image(model)
    for entry in image.values():
        assert entry["q"].dtype == torch.int8
        assert int(entry["q"].abs().max()) <= 2 ** (bits - 1) - 1
    # A fresh model with other weights, given only the image (and the float BN state).
    torch.manual_seed(1)
    other = models.build(arch, shape, 10, {**Q8, "weight_bits": bits}).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        for layer in quant_layers(other).values():
            layer.weight.normal_()  # the float weights are now wrong; only the image counts
    load_memory_image(other, image)
    with torch.no_grad():
        assert torch.equal(other(x), fake_quant)
    clear_deployed(other)
    with torch.no_grad():
        assert not torch.equal(other(x), fake_quant)


def test_first_last_can_stay_float():
    model = models.build("lenet5", (1, 28, 28), 10, {**Q8, "quantize_first_last": False})
    assert list(export_memory_image(model)) == ["body.4", "body.9", "body.11"]
    model = models.build("lenet5", (1, 28, 28), 10, Q8)
    assert list(export_memory_image(model)) == ["body.0", "body.4", "body.9", "body.11", "body.13"]


def test_image_mismatch_is_an_error():
    a = models.build("lenet5", (1, 28, 28), 10, Q8)
    b = models.build("lenet5", (1, 28, 28), 10, {**Q8, "quantize_first_last": False})
    with pytest.raises(ValueError, match="^image:"):
        load_memory_image(b, export_memory_image(a))


def test_unknown_arch():
    with pytest.raises(ValueError, match="^arch: unknown architecture 'vgg'"):
        models.build("vgg", (1, 28, 28), 10, Q8)
