import os
import signal
import subprocess
import time

import pytest
import torch
import yaml

from conftest import CI_CONFIG, FASHION, MODEL_WC, PY, ROOT, SNAKEMAKE, run, settings_for
from flatenn import data, evaluation, models, sparsity, train
from flatenn.quant import quant_layers

Q = {"weight_bits": 8, "act_bits": 8}
TCFG = {"epochs": 2, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "ramp_epochs": 1}
STANDARD = {"threshold": 0.0, "alpha": 0.0, "penalty": "l1"}
SPARSE = {"threshold": 0.1, "alpha": 0.3, "penalty": "l1"}


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", val_size=200)


def fit(ds, variant, rho, seed=0, epochs=2):
    torch.manual_seed(seed)
    m = models.build("lenet5", ds.shape, 10, Q)
    train.train(m, ds, tcfg={**TCFG, "epochs": epochs}, variant=variant, rho=rho, seed=seed, progress=False)
    return m


def test_training_learns_and_is_deterministic(digits):
    a, b = fit(digits, STANDARD, 0.0), fit(digits, STANDARD, 0.0)
    test = evaluation.batches(digits.test.x, digits.test.y)
    assert evaluation.accuracy(a, test) > 0.8
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_saq_differs_from_conventional_and_restores_the_weights(digits):
    torch.manual_seed(0)
    m = models.build("lenet5", digits.shape, 10, Q)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x, y = evaluation.to_float(digits.train.x[:32]), digits.train.y[:32]
    train.saq_step(m, x, y, 0.0, "l1", rho=0.05)
    after = m.state_dict()
    # The ascent is undone: parameters are bit-identical; only BN running stats moved.
    assert all(torch.equal(before[k], after[k]) for k in before if "running" not in k and "num_batches" not in k)
    assert all(layer.perturbation is None for layer in quant_layers(m).values())
    # The SAQ gradient is the gradient at the perturbed point, not at Q(w).
    saq_grad = quant_layers(m)["body.0"].weight.grad.clone()
    m.zero_grad()
    m.load_state_dict(before)
    train.loss_fn(m, x, y, 0.0, "l1").backward()
    assert not torch.allclose(saq_grad, quant_layers(m)["body.0"].weight.grad)
    a, b = fit(digits, STANDARD, 0.0, epochs=1), fit(digits, STANDARD, 0.05, epochs=1)
    assert not torch.equal(a.state_dict()["body.0.weight"], b.state_dict()["body.0.weight"])


def test_saq_moves_bn_statistics_once_at_the_quantized_weights(digits):
    torch.manual_seed(0)
    m = models.build("lenet5", digits.shape, 10, Q)
    ref = models.build("lenet5", digits.shape, 10, Q)
    ref.load_state_dict(m.state_dict())
    m.train(), ref.train()
    x, y = evaluation.to_float(digits.train.x[:32]), digits.train.y[:32]
    train.saq_step(m, x, y, 0.0, "l1", rho=0.5)
    train.loss_fn(ref, x, y, 0.0, "l1")  # one plain pass at Q(w)
    bufs = {k: v for k, v in m.state_dict().items() if "running" in k or "num_batches" in k}
    assert bufs and all(torch.equal(v, ref.state_dict()[k]) for k, v in bufs.items())
    assert int(m.state_dict()["body.1.num_batches_tracked"]) == 1


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(digits, tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt.pt"
    steps_per_epoch = -(-len(digits.train) // TCFG["batch_size"])
    calls = {"n": 0}
    plain = train.loss_fn

    def diverging(*args):
        calls["n"] += 1
        loss = plain(*args)
        return loss * float("nan") if calls["n"] == steps_per_epoch + 3 else loss

    monkeypatch.setattr(train, "loss_fn", diverging)
    torch.manual_seed(0)
    m = models.build("lenet5", digits.shape, 10, Q)
    with pytest.raises(train.NonFiniteLoss, match=r"^training diverged: loss nan at epoch 2, step 3 "):
        train.train(m, digits, tcfg=TCFG, variant=STANDARD, rho=0.0, seed=0, checkpoint=ckpt, key="k",
                    progress=False)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1


def test_sparse_variant_is_sparser(digits):
    test = evaluation.batches(digits.test.x, digits.test.y)
    dense = sparsity.measure(fit(digits, STANDARD, 0.0, epochs=5), test)["overall"]
    sparse = sparsity.measure(fit(digits, SPARSE, 0.0, epochs=5), test)["overall"]
    assert sparse > dense + 0.1


def test_crop_flip_augmentation_shapes_and_determinism():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    a = train.augment_crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    b = train.augment_crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert a.shape == x.shape and torch.equal(a, b)
    same = train.augment_crop_flip(x, torch.Generator().manual_seed(0), pad=0)
    assert all(torch.equal(s, x[i]) or torch.equal(s, x[i].flip(-1)) for i, s in enumerate(same))


def test_a_checkpoint_of_another_configuration_or_format_is_ignored(digits, tmp_path):
    """Resuming reads only a checkpoint of the same job key and format; any other trains afresh,
    to the weights of a run without a checkpoint."""
    def run(ckpt=None, key="k"):
        torch.manual_seed(0)
        m = models.build("lenet5", digits.shape, 10, Q)
        train.train(m, digits, tcfg=TCFG, variant=STANDARD, rho=0.0, seed=0, checkpoint=ckpt, key=key,
                    progress=False)
        return m.state_dict()

    fresh = run()
    ckpt = tmp_path / "ckpt.pt"
    run(ckpt, key="another")
    state = torch.load(ckpt, weights_only=True)
    assert state["format"] == train.CHECKPOINT_FORMAT and state["epoch"] == TCFG["epochs"]
    # Weights that would show if the checkpoint were read (resuming is exact, so plain ones would not).
    moved = {k: v + 1 if v.is_floating_point() else v for k, v in state["model"].items()}
    state = {**state, "epoch": 1, "model": moved}
    older = {k: v for k, v in state.items() if k != "format"}  # format 1 did not name itself
    for foreign in (state, {**older, "key": "k"}):
        torch.save(foreign, ckpt)
        again = run(ckpt, key="k")
        assert all(torch.equal(fresh[k], again[k]) for k in fresh)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed")
def test_killed_training_job_resumes_with_the_same_weights(tmp_path):
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["dataset"]["train_subset"] = 1500  # short epochs: the job is killed after its first checkpoint
    cfg["training"]["epochs"] = 3
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    target = "results/models/fashion_mnist/lenet5/as_mid/saq/s0.pt"
    ckpt = tmp_path / "results/checkpoints/fashion_mnist/lenet5/as_mid/saq/s0.pt"
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(cfg_path),
           "--cores", "1", target]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    # Kill the training job itself (as an OOM killer would): no clean-up in it at all.
    job = run(["pgrep", "-s", str(proc.pid), "-f", "flatenn train"], check=False).stdout.split()
    assert job, "the training job had already ended"
    for pid in job:
        os.kill(int(pid), signal.SIGKILL)
    assert proc.wait(timeout=60) != 0
    killed_at = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= killed_at < 3, "the job was not interrupted mid-run"
    assert not (tmp_path / target).exists()
    run(cmd, cwd=tmp_path)
    log = (tmp_path / "results/logs/train/fashion_mnist/lenet5/as_mid/saq/s0.log").read_text()
    assert f"resumed from {ckpt.relative_to(tmp_path)} after epoch" in log
    # The same job, uninterrupted.
    ref = tmp_path / "ref/fashion_mnist/lenet5/as_mid/saq/s0.pt"
    run([PY, "-m", "flatenn", "train", "--settings", settings_for(cfg_path, "train", **MODEL_WC),
         "--data", str(tmp_path / "results/data/fashion_mnist.pt"), "--out", str(ref)])
    a = torch.load(tmp_path / target, weights_only=True)["state_dict"]
    b = torch.load(ref, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)


@pytest.mark.slow
def test_paper_config_runs_on_generated_cifar10(tmp_path):
    """config/paper.yaml's CIFAR-10 + ResNet-20 path, on a tiny generated CIFAR-10 layout."""
    data.write_fake_cifar10(tmp_path / "cifar", n_train=20, n_test=16)
    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    cfg["dataset"].update(root=str(tmp_path / "cifar"), val_size=20)
    cfg["training"].update(epochs=1, batch_size=32, warmup_steps=2)
    cfg["device"] = "cpu"
    cfg_path = tmp_path / "paper_small.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    d, e = tmp_path / "d.pt", tmp_path / "e.json"
    wc = {"dataset": "cifar10", "arch": "resnet20", "variant": "as_high", "training": "saq", "seed": "0"}
    m = tmp_path / "models/cifar10/resnet20/as_high/saq/s0.pt"
    run([PY, "-m", "flatenn", "prepare-data", "--settings", settings_for(cfg_path, "prepare_data"), "--out", str(d)])
    run([PY, "-m", "flatenn", "train", "--settings", settings_for(cfg_path, "train", **wc), "--data", str(d),
         "--out", str(m)])
    run([PY, "-m", "flatenn", "evaluate", "--settings", settings_for(cfg_path, "evaluate", **wc), "--data", str(d),
         "--model", str(m), "--out", str(e)])
    res = yaml.safe_load(e.read_text())
    assert 0 <= res["accuracy"] <= 1 and len(res["sparsity_per_layer"]) == 19


def test_nesterov_sgd_gives_the_floats_of_torch_sgd():
    """train.NesterovSGD against torch.optim.SGD(nesterov=True): the same parameters to the bit
    after steps with changing learning rates, weight decay, and a parameter without a gradient."""
    torch.manual_seed(0)
    ref = [torch.randn(5, 3), torch.randn(7), torch.randn(2, 2)]
    start, ours = [p.clone() for p in ref], [p.clone() for p in ref]
    for p in ref + ours:
        p.requires_grad_(True)
    opt_ref = torch.optim.SGD(ref, lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    opt = train.NesterovSGD(ours, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(1)
    for step in range(6):
        lr = 0.1 * (1 + step) / 3
        grads = [torch.randn(p.shape, generator=gen) for p in ref]
        for params in (ref, ours):
            for i, (p, g) in enumerate(zip(params, grads)):
                p.grad = None if i == 2 and step % 2 else g.clone()
        opt_ref.param_groups[0]["lr"] = lr
        opt_ref.step()
        opt.step(lr)
        assert all(torch.equal(a, b) for a, b in zip(ref, ours)), step
    assert not any(torch.equal(a, b) for a, b in zip(start, ours))


def test_device_auto_takes_cuda_only_where_torch_sees_it(monkeypatch):
    """`device: auto` (config/depth.yaml) picks CUDA when present and the CPU otherwise;
    `device: cuda` without one is an error, not a silent CPU run."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert evaluation.device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        evaluation.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert evaluation.device("auto") == torch.device("cuda")
    assert evaluation.device("cpu") == torch.device("cpu")


def test_saq_ascends_along_the_exact_gradient_also_at_codes_at_qmax(digits):
    """Known answer: a layer whose every weight sits at a code +-qmax (each channel's weights of
    one magnitude) gets no straight-through gradient (the clamp), so the former step did not move
    it; the exact step moves it by rho times the normalized gradient with respect to Q(w)."""
    from flatenn.quant import QLinear

    torch.manual_seed(0)
    layer = QLinear(4, 3, bias=False, weight_bits=8)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.5, 0.5, 0.5], [-0.2, 0.2, 0.2, -0.2], [1.0, 1.0, -1.0, 1.0]]))
    x, target = torch.randn(8, 4), torch.randn(8, 3)
    layers, rho = [layer], 0.05
    for direction, convention in (("ste", "raw"), ("exact", "raw"), ("exact", "normalized")):
        layer.zero_grad()
        layer.keep_quantized = direction == "exact"
        ((layer(x) - target) ** 2).sum().backward()
        layer.keep_quantized = False
        g = ((x.T @ (2 * (x @ layer.weight.detach().T - target))).T)  # d loss / d Q(w): Q(w) = w here
        if direction == "ste":
            assert torch.count_nonzero(layer.weight.grad) == 0  # every code at +-qmax: the clamp's zero
            eps, moved = train.ascent(layers, [], rho, direction, convention)
            assert torch.count_nonzero(eps[0]) == 0 and moved == 0
            continue
        assert torch.allclose(layer.kept.grad, g, rtol=1e-5, atol=1e-5)
        eps, moved = train.ascent(layers, [], rho, direction, convention)
        amax = layer.weight.detach().abs().amax(dim=1, keepdim=True)
        unit = amax if convention == "normalized" else torch.ones_like(amax)
        expected = rho * unit * (unit * g) / torch.linalg.vector_norm(unit * g)
        assert torch.allclose(eps[0], expected, rtol=1e-5, atol=1e-8) and torch.count_nonzero(eps[0]) == 12
        assert moved == pytest.approx(float((expected.abs() / (amax / 127)).mean()), rel=1e-5)


def test_saq_rejects_an_unknown_direction_or_convention():
    with pytest.raises(ValueError, match="direction"):
        train.ascent([], [], 0.05, "sideways", "raw")
