"""The jobs that load the dataset or a network (and so torch): check the config, prepare the data,
train, evaluate, the fault campaigns, the mechanism measurements and sharpness. Each reads its
inputs, calls the library and writes its outputs; ``o`` holds the declared options, ``s`` the
job's config slice."""
from __future__ import annotations

import logging
from pathlib import Path

from flatenn.jobs.inputs import dataset, device

log = logging.getLogger("flatenn")


def check_config(o, s):
    """The config against its schema, then every configured architecture built for the dataset's
    images and deployed (flatenn.deployed.check_architecture): an architecture the integer network
    cannot compute fails here, in seconds, naming the layer, not in its campaign after training."""
    from flatenn import config, deployed

    cfg = config.load(o["config"])
    exact = deployed.check_deployable(cfg["archs"], cfg["dataset"]["name"], cfg["quant"])
    sums = ", ".join(f"{a} {'exact' if e else 'not provably exact (a wide layer or a global mean)'}" for a, e in exact.items())
    print(f"{o['config']}: valid; {', '.join(cfg['archs'])} deploy as trained; integer sums in float32: {sums}")


def prepare_data(o, s):
    from flatenn import data

    d = s["dataset"]
    ds = data.load(d["name"], d["root"], val_size=d["val_size"], seed=d["split_seed"],
                   train_subset=d["train_subset"], test_subset=d["test_subset"])
    data.save(ds, o["out"])
    log.info("%s: train %d, val %d, test %d images of shape %s", ds.name, len(ds.train), len(ds.val),
             len(ds.test), ds.shape)


def train(o, s):
    from flatenn import io, models, train

    mid = io.model_id(o["out"])
    ds = dataset(o["data"])
    model, result = train.fit(s, ds, arch=mid["arch"], seed=mid["seed"],
                              checkpoint=Path(o["checkpoint"]) if o["checkpoint"] else None, dev=device(s))
    models.save(model, o["out"], arch=mid["arch"], in_shape=ds.shape, num_classes=ds.num_classes,
                qcfg=s["quant"], variant=s["variant"], extra={"history": result["history"]})


def evaluate(o, s):
    from flatenn import evaluation, io, models, sparsity

    ds, dev = dataset(o["data"]), device(s)
    model, meta = models.load(o["model"], dev)
    test = evaluation.batches(ds.test.x, ds.test.y, s["evaluate"]["batch_size"], dev)
    acc, sp = evaluation.accuracy(model, test), sparsity.measure(model, test)
    hist = meta.get("history", [])
    io.write_json(o["out"], {"accuracy": acc, "activation_sparsity": sp["overall"], "sparsity_per_layer": sp["per_layer"],
                          "train_images_per_s": sum(h["images_per_s"] for h in hist) / max(1, len(hist))})
    log.info("test accuracy %.4f, activation sparsity %.4f", acc, sp["overall"])


def _campaign(o, s, points, trials):
    import pandas as pd

    from flatenn import campaign, io, models

    mid = io.model_id(o["model"])
    ds, dev = dataset(o["data"]), device(s)
    model, meta = models.load(o["model"], dev)
    image = campaign.memory_image(model)
    evset = campaign.evaluation_set_of(ds, s["eval_size"], s["seed"], mid["seed"], dev)
    rows = campaign.run(model, image, evset, points(image), trials=trials, mode=s["mode"], maps=s["maps"],
                        base_seed=s["seed"], arch=meta["arch"], seed=mid["seed"])
    df = pd.DataFrame(rows)
    for i, (k, v) in enumerate(mid.items()):
        df.insert(i, k, v)
    return df


def campaign(o, s):
    """Every fault type of one model in one job (one process start, one model load, one run);
    one CSV per fault type."""
    from flatenn import io

    if len(o["fault"]) != len(o["out"]):
        raise ValueError(f"--out: {len(o['out'])} files for {len(o['fault'])} fault types")
    for f in o["fault"]:
        if f not in s["rates"]:
            raise ValueError(f"--settings: no rates for fault type {f!r}")
    df = _campaign(o, s, lambda image: [{"fault": f, "rate": r} for f in o["fault"] for r in s["rates"][f]],
                   s["trials"])
    for f, out in zip(o["fault"], o["out"]):
        io.write_csv(out, df[df.fault == f])


def vulnerability(o, s):
    from flatenn import campaign, io

    df = _campaign(o, s, lambda image: campaign.vulnerability_points(image, s["fault"], s["layer_rate"],
                                                                     s["bit_rate"]), s["trials"])
    df["sweep"] = ["layer" if isinstance(layer, str) else "bit" for layer in df.get("layer", [None] * len(df))]
    io.write_csv(o["out"], df)


def mechanism(o, s):
    """The network's fault-relevant structure on its campaign images and the two interventions at
    the campaign's maps (flatenn.mechanism.measure): one JSON of layers and summary, one CSV of
    trials."""
    from flatenn import campaign, io, models
    from flatenn.mechanism import measure

    mid = io.model_id(o["model"])
    model, meta = models.load(o["model"])
    x, y = campaign.evaluation_set_of(dataset(o["data"]), s["eval_size"], s["seed"], mid["seed"])
    layers, summary, trials = measure.network(model, campaign.memory_image(model), x, y, s, meta["arch"], mid)
    io.write_json(o["out"], {"layers": layers.to_dict(orient="records"), "summary": summary})
    io.write_csv(o["trials"], trials)
    log.info("input density %.3f, dead inputs %.3f of weights; activation sparsity %s", summary["input_density"],
             summary["dead_input_share"], ", ".join(f"{e['activation_sparsity']:.3f} at threshold {e['threshold']:g}"
                                                    for e in summary["switch"]))


def sharpness(o, s):
    from flatenn import io, models, sharpness

    model, _ = models.load(o["model"])
    x, y = sharpness.training_subset(dataset(o["data"]), s["subset"], s["seed"])
    result = sharpness.measure(model, x, y, s, seed=s["seed"])
    io.write_json(o["out"], result)
    log.info("top eig %.4g (normalized %.4g), trace %.4g (normalized %.4g), eps %.4g, fault %.4g",
             result["hessian_top_eig"], result["hessian_top_eig_normalized"], result["hessian_trace"],
             result["hessian_trace_normalized"], result["eps_sharpness"], result["fault_sharpness"])
