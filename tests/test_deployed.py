"""The deployed network: the training-time model's predictions, and batches of maps that change nothing."""
import pytest
import torch

from flatenn import campaign, catalog, deployed, models, registry
from flatenn.deployed import DeployedNet
from flatenn.quant import export_memory_image, load_memory_image
from flatenn.sparsity import act_layers, set_threshold

Q = {"weight_bits": 8, "act_bits": 8}


def scrambled(arch, shape, qcfg=Q, threshold=0.1, seed=0):
    """An untrained model with BN statistics and signs (negative gammas) far from the defaults."""
    torch.manual_seed(seed)
    m = models.build(arch, shape, 10, qcfg)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(-1.0, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    for a in act_layers(m):
        a.clip.data.fill_(2.0)
    set_threshold(m, threshold)
    return m.eval()


def maps(image, n, rate=0.01, fault="bitflip"):
    memory = campaign.weight_memory(image)
    return [campaign.faulty_ints(image, fault, rate, torch.Generator().manual_seed(t), mode="exact", memory=memory)
            for t in range(n)]


def training_time_predictions(model, image, ints, x):
    load_memory_image(model, image, ints)
    with torch.inference_mode():
        pred = model(x).argmax(1)
    load_memory_image(model, image)
    return pred


@pytest.mark.parametrize("variant", ["standard", "sparse"])
def test_deployed_agrees_with_the_training_time_model_clean_and_under_fixed_maps(trained, variant, capsys):
    digits, ms = trained
    m = ms[variant]
    image = export_memory_image(m)
    net = DeployedNet(m, image)
    x = digits.test.x
    clean = {n: e["q"] for n, e in image.items()}
    mismatch = total = 0
    for ints in [clean] + maps(image, 5) + maps(image, 3, 0.05, "sa1"):
        deployed = net.logits(x, net.stack([ints]), 1)[:, 0].argmax(-1)
        mismatch += int((deployed != training_time_predictions(m, image, ints, x)).sum())
        total += len(x)
    with capsys.disabled():
        print(f"\n  deployed vs training-time LeNet-5 ({variant}): {mismatch} of {total} predictions differ")
    assert mismatch <= 0.001 * total


@pytest.mark.parametrize("arch,shape,qcfg", [("lenet5", (1, 28, 28), Q), ("resnet8", (3, 16, 16), Q),
                                             ("lenet5", (1, 8, 8), {**Q, "quantize_first_last": False})])
def test_deployed_agrees_on_scrambled_models(arch, shape, qcfg):
    """Negative BN gammas (sign-flipped channels, pooling before rounding), thresholds, residual
    blocks, float first/last layers kept out of the memory."""
    m = scrambled(arch, shape, qcfg)
    image = export_memory_image(m)
    net = DeployedNet(m, image)
    x = torch.randint(0, 256, (400, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    for ints in [{n: e["q"] for n, e in image.items()}] + maps(image, 2):
        deployed = net.logits(x, net.stack([ints]), 1)[:, 0].argmax(-1)
        assert (deployed != training_time_predictions(m, image, ints, x)).sum() <= 1


def test_a_batch_of_maps_gives_bit_for_bit_the_logits_of_single_maps():
    m = scrambled("lenet5", (1, 28, 28))
    image = export_memory_image(m)
    net = DeployedNet(m, image)
    assert net.exact_sums()  # 8-bit LeNet-5: every integer sum below 2**24
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    ints = maps(image, 7, 0.03)
    together = net.logits(x, net.stack(ints), len(ints))
    for i, one in enumerate(ints):
        assert torch.equal(together[:, i], net.logits(x, net.stack([one]), 1)[:, 0])


@pytest.mark.parametrize("arch,shape", [("lenet5", (1, 28, 28)), ("resnet8", (3, 16, 16))])
def test_campaign_rows_do_not_depend_on_maps_per_pass(arch, shape):
    m = scrambled(arch, shape)
    image = export_memory_image(m)
    x = torch.randint(0, 256, (200, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(4))
    points = [{"fault": "bitflip", "rate": 0.0}, {"fault": "sa0", "rate": 0.05}]
    runs = [campaign.run(m, image, (x, y), points, trials=9, mode="exact", maps="shared", base_seed=1, arch=arch, seed=0,
                         maps_per_pass=k, progress=False) for k in (1, 4, 16)]
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 1 + 9


def test_deployed_refuses_float_images():
    m = scrambled("lenet5", (1, 8, 8))
    net = DeployedNet(m, export_memory_image(m))
    with pytest.raises(ValueError, match="uint8"):
        net.logits(torch.rand(2, 1, 8, 8), net.stack([{n: e["q"] for n, e in net.image.items()}]), 1)


@pytest.mark.parametrize("arch", list(registry.ARCHITECTURES))
def test_every_registered_architecture_deploys_as_trained(arch):
    """check-config's check, on every architecture of the registry (a new one is covered here too)."""
    differ, _ = deployed.check_architecture(arch, catalog.SHAPES["fashion_mnist"], 10, Q)
    assert differ <= 1 / 64


def test_a_depthwise_convolution_is_named_in_one_line_before_any_job(monkeypatch):
    """A network with a depthwise convolution (groups = channels) cannot be deployed yet: the check
    names the layer; an architecture whose builder fails inside torch is one line too."""
    from torch import nn

    from flatenn import deployed, registry
    from flatenn.models import Net
    from flatenn.quant import QConv2d, QLinear
    from flatenn.sparsity import QAct

    def dsnet(in_shape, num_classes, qcfg):
        b = qcfg["weight_bits"]
        return Net(nn.Sequential(QConv2d(in_shape[0], 8, 3, padding=1, bias=False, weight_bits=b), nn.BatchNorm2d(8),
                                 QAct(8), QConv2d(8, 8, 3, padding=1, groups=8, bias=False, weight_bits=b),
                                 nn.BatchNorm2d(8), QAct(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 QLinear(8, num_classes, weight_bits=b)))

    def broken(in_shape, num_classes, qcfg):
        return Net(nn.Sequential(QConv2d(in_shape[0], 8, 3, groups=in_shape[0] + 1), nn.Flatten()))

    for name, build in (("dsnet_test", dsnet), ("broken_test", broken)):
        monkeypatch.setitem(registry.ARCHITECTURES, name, registry.Architecture(name, build, depth=3))
    qcfg = {"weight_bits": 8, "act_bits": 8, "quantize_first_last": True}
    with pytest.raises(ValueError, match=r"^archs: dsnet_test: deployed: cannot deploy layer body\.3 \(a QConv2d "
                                         r"with groups=8\)"):
        deployed.check_deployable(["dsnet_test"], "fashion_mnist", qcfg)
    with pytest.raises(ValueError) as e:
        deployed.check_deployable(["broken_test"], "fashion_mnist", qcfg)
    assert str(e.value).startswith("archs: broken_test: ") and "\n" not in str(e.value)
