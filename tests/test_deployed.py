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


def separable(in_shape, num_classes, qcfg, dilation=1):
    """Grouped convolutions everywhere the pass treats them apart: a grouped first layer (its input
    shared by the maps), a depthwise and a pointwise convolution, and a grouped one in a ResNet-free
    body with max pooling."""
    from torch import nn

    from flatenn.kernels import MaxPool2d
    from flatenn.models import Net
    from flatenn.quant import QConv2d, QLinear
    from flatenn.sparsity import QAct

    c, h, w = in_shape
    b = qcfg["weight_bits"]
    return Net(nn.Sequential(
        QConv2d(c, 2 * c, 3, padding=1, groups=c, bias=False, weight_bits=b), nn.BatchNorm2d(2 * c), QAct(8),
        QConv2d(2 * c, 2 * c, 3, padding=dilation, dilation=dilation, groups=2 * c, bias=False, weight_bits=b),
        nn.BatchNorm2d(2 * c), QAct(8),
        QConv2d(2 * c, 8, 1, bias=False, weight_bits=b), nn.BatchNorm2d(8), QAct(8),
        QConv2d(8, 8, 3, stride=2, padding=1, groups=2, bias=False, weight_bits=b), nn.BatchNorm2d(8), QAct(8),
        MaxPool2d(2), nn.Flatten(), QLinear(8 * (h // 4) * (w // 4), num_classes, weight_bits=b)))


@pytest.fixture
def registered_separable(monkeypatch):
    from flatenn.models import Net
    from flatenn.quant import QConv2d
    from torch import nn

    def broken(in_shape, num_classes, qcfg):
        return Net(nn.Sequential(QConv2d(in_shape[0], 8, 3, groups=in_shape[0] + 1), nn.Flatten()))

    def dilated(in_shape, num_classes, qcfg):
        return separable(in_shape, num_classes, qcfg, dilation=2)

    for name, build in (("sep_test", separable), ("dilated_test", dilated), ("broken_test", broken)):
        monkeypatch.setitem(registry.ARCHITECTURES, name, registry.Architecture(name, build, depth=5, min_input=4))


def test_grouped_and_depthwise_convolutions_deploy_as_trained(registered_separable):
    qcfg = {"weight_bits": 8, "act_bits": 8, "quantize_first_last": True}
    differ, exact = deployed.check_architecture("sep_test", (3, 16, 16), 10, qcfg)
    assert differ <= 1 / 64 and exact
    m = scrambled("sep_test", (3, 16, 16))
    image = export_memory_image(m)
    x = torch.randint(0, 256, (100, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 10, (100,), generator=torch.Generator().manual_seed(4))
    points = [{"fault": "bitflip", "rate": 0.0}, {"fault": "bitflip", "rate": 0.02}]
    runs = [campaign.run(m, image, (x, y), points, trials=6, mode="exact", maps="shared", base_seed=1,
                         arch="sep_test", seed=0, maps_per_pass=k, progress=False) for k in (1, 3, 6)]
    assert runs[0] == runs[1] == runs[2] and len({r["accuracy"] for r in runs[0]}) > 1
    # each map alone, through the training-time model on the same faulty integers
    net, ints = DeployedNet(m, image), maps(image, 3, rate=0.02)
    for one, hits in zip(ints, net.correct(x, y, ints)):
        assert abs(int((training_time_predictions(m, image, one, x) == y).sum()) - hits) <= 1
    assert deployed.check_deployable(["sep_test"], "fashion_mnist", qcfg) == {"sep_test": True}


def test_an_undeployable_convolution_is_named_in_one_line_before_any_job(registered_separable):
    """A dilated convolution is refused naming the layer; an architecture whose builder fails
    inside torch is one line too."""
    qcfg = {"weight_bits": 8, "act_bits": 8, "quantize_first_last": True}
    with pytest.raises(ValueError, match=r"^archs: dilated_test: deployed: cannot deploy layer body\.3 \(a QConv2d "
                                         r"with padding_mode=zeros, dilation=\(2, 2\)\)"):
        deployed.check_deployable(["dilated_test"], "fashion_mnist", qcfg)
    with pytest.raises(ValueError) as e:
        deployed.check_deployable(["broken_test"], "fashion_mnist", qcfg)
    assert str(e.value).startswith("archs: broken_test: ") and "\n" not in str(e.value)


def test_live_weights_of_a_grouped_convolution_follow_its_groups():
    """Output channel o of a g-group convolution reads input channels (o // (out / g)) x (in / g) + i."""
    from flatenn.mechanism.measure import live_weights

    on = torch.tensor([1.0, 0.0, 1.0, 1.0])  # input channel 1 never active
    image = {"depthwise": {"q": torch.ones(4, 1, 3, 3, dtype=torch.int8)},
             "grouped": {"q": torch.ones(4, 2, 1, 1, dtype=torch.int8)},
             "full": {"q": torch.ones(2, 4, 1, 1, dtype=torch.int8)}}
    live = live_weights(image, {n: on for n in image})
    assert live["depthwise"][:, 0, 0, 0].tolist() == [True, False, True, True]
    assert live["grouped"][:, :, 0, 0].tolist() == [[True, False], [True, False], [True, True], [True, True]]
    assert live["full"][:, :, 0, 0].tolist() == [[True, False, True, True]] * 2
