"""``flatenn <subcommand>``: one subcommand per workflow rule; the logic lives in the modules.

Every error that a user can cause ends in one line on stderr and exit status 2; outputs are
written atomically, so a failed or interrupted job leaves nothing that looks complete.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd
import torch

from flatenn.config import ConfigError
from flatenn.data import DataError

log = logging.getLogger("flatenn")


def _setup(args) -> dict:
    torch.set_num_threads(args.threads)
    handlers = [logging.FileHandler(args.log)] if args.log else [logging.StreamHandler()]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", handlers=handlers, force=True)
    from flatenn import config

    return config.load(args.config)


def _device(cfg):
    from flatenn.evaluation import device

    return device(cfg.get("device", "cpu"))


def _dataset(args):
    from flatenn import data

    return data.read(args.data)


def cmd_prepare_data(args, cfg):
    from flatenn import data

    d = cfg["dataset"]
    ds = data.load(d["name"], d.get("root"), val_size=d["val_size"], seed=d.get("split_seed", 0),
                   train_subset=d.get("train_subset"), test_subset=d.get("test_subset"))
    data.save(ds, args.out)
    log.info("%s: train %d, val %d, test %d images of shape %s", ds.name, len(ds.train), len(ds.val),
             len(ds.test), ds.shape)


def cmd_train(args, cfg):
    from flatenn import models, train

    ds = _dataset(args)
    if args.variant not in cfg["variants"]:
        raise ConfigError(f"variant: {args.variant!r} is not in variants")
    variant = {"penalty": "l1", **cfg["variants"][args.variant]}
    tcfg = cfg["training"]
    rho = tcfg["rho"] if args.training == "saq" else 0.0
    torch.manual_seed(args.seed)
    model = models.build(args.arch, ds.shape, ds.num_classes, cfg["quant"])
    # The checkpoint belongs to this exact job: a changed config starts afresh.
    key = repr((cfg["dataset"], cfg["quant"], variant, tcfg, args.arch, args.training, args.seed))
    result = train.train(model, ds, tcfg=tcfg, variant=variant, rho=rho, seed=args.seed,
                         checkpoint=Path(args.checkpoint) if args.checkpoint else None, key=key,
                         augment=tcfg.get("augment", False), dev=_device(cfg))
    models.save(model, args.out, arch=args.arch, in_shape=ds.shape, num_classes=ds.num_classes,
                qcfg=cfg["quant"], variant=variant, extra={"history": result["history"]})


def cmd_evaluate(args, cfg):
    from flatenn import evaluation, io, models, sparsity

    ds = _dataset(args)
    dev = _device(cfg)
    model, meta = models.load(args.model, dev)
    test = evaluation.batches(ds.test.x, ds.test.y, cfg["evaluate"]["batch_size"], dev)
    acc = evaluation.accuracy(model, test)
    sp = sparsity.measure(model, test)
    hist = meta.get("history", [])
    io.write_json(args.out, {"accuracy": acc, "activation_sparsity": sp["overall"],
                             "sparsity_per_layer": sp["per_layer"],
                             "train_images_per_s": sum(h["images_per_s"] for h in hist) / max(1, len(hist))})
    log.info("test accuracy %.4f, activation sparsity %.4f", acc, sp["overall"])


def _campaign_setup(args, cfg):
    from flatenn import campaign, models
    from flatenn.quant import export_memory_image

    ds = _dataset(args)
    dev = _device(cfg)
    model, meta = models.load(args.model, dev)
    fc = cfg["faults"]
    image = {name: {k: v.cpu() if torch.is_tensor(v) else v for k, v in e.items()}  # faults draw on the CPU
             for name, e in export_memory_image(model).items()}
    return model, meta, image, campaign.evaluation_set(ds, fc["eval_size"], fc["seed"], dev)


def _with_ids(rows, args) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for i, col in enumerate(("dataset", "arch", "variant", "training", "seed")):
        df.insert(i, col, getattr(args, col))
    return df


def cmd_campaign(args, cfg):
    from flatenn import campaign, io

    model, meta, image, evset = _campaign_setup(args, cfg)
    fc = cfg["faults"]
    points = [{"fault": args.fault, "rate": r} for r in fc["rates"][args.fault]]
    rows = campaign.run(model, image, evset, points, trials=fc["trials"], mode=fc["mode"],
                        base_seed=fc["seed"], arch=meta["arch"])
    io.write_csv(args.out, _with_ids(rows, args))


def cmd_vulnerability(args, cfg):
    from flatenn import campaign, io

    model, meta, image, evset = _campaign_setup(args, cfg)
    vc, fc = cfg["vulnerability"], cfg["faults"]
    bits = cfg["quant"]["weight_bits"]
    points = ([{"fault": vc["fault"], "rate": vc["layer_rate"], "layer": name} for name in image]
              + [{"fault": vc["fault"], "rate": vc["bit_rate"], "bit": b} for b in range(bits)])
    rows = campaign.run(model, image, evset, points, trials=vc["trials"], mode=fc["mode"],
                        base_seed=fc["seed"], arch=meta["arch"])
    df = _with_ids(rows, args)
    df["sweep"] = ["layer" if isinstance(layer, str) else "bit" for layer in df.get("layer", [None] * len(df))]
    io.write_csv(args.out, df)


def cmd_sharpness(args, cfg):
    from flatenn import io, models, sharpness

    ds = _dataset(args)
    sc = cfg["sharpness"]
    model, _ = models.load(args.model)
    # A fixed seeded training subset, the same for every model.
    n = min(sc["subset"], len(ds.train))
    idx = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(cfg["faults"]["seed"]))[:n]
    result = sharpness.measure(model, ds.train.x[idx], ds.train.y[idx], sc, seed=cfg["faults"]["seed"])
    io.write_json(args.out, result)
    log.info("top eig %.4g, trace %.4g, eps %.4g, fault %.4g", result["hessian_top_eig"],
             result["hessian_trace"], result["eps_sharpness"], result["fault_sharpness"])


def cmd_paper(args, cfg):
    from flatenn import paper

    getattr(paper, args.what.replace("-", "_"))(cfg, args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="flatenn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, func, *opts):
        s = sub.add_parser(name)
        s.add_argument("--config", required=True)
        s.add_argument("--log", default=None, help="log file (default: stderr)")
        s.add_argument("--threads", type=int, default=1)
        for o in opts:
            s.add_argument(f"--{o}", required=True, type=int if o == "seed" else str)
        s.set_defaults(func=func)
        return s

    add("prepare-data", cmd_prepare_data, "out")
    model_ids = ("dataset", "arch", "variant", "training", "seed")
    s = add("train", cmd_train, "data", "arch", "variant", "training", "seed", "out")
    s.add_argument("--checkpoint", default=None)
    add("evaluate", cmd_evaluate, "data", "model", "out")
    add("campaign", cmd_campaign, "data", "model", "fault", "out", *model_ids)
    add("vulnerability", cmd_vulnerability, "data", "model", "out", *model_ids)
    add("sharpness", cmd_sharpness, "data", "model", "out")
    s = add("paper", cmd_paper, "what")
    s.add_argument("--inputs", nargs="*", default=[])
    s.add_argument("--outputs", nargs="*", default=[])
    args = p.parse_args(argv)
    try:
        cfg = _setup(args)
        args.func(args, cfg)
    except (ConfigError, DataError, ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"flatenn {args.cmd}: error: {msg}", file=sys.stderr)
        if args.log:
            log.exception("%s", msg)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
