"""Load and validate a workflow config, and cut it into the slice each job reads.

Every error is one line that names the key. Defaults live in the schema only and are
applied here, once, so no module repeats them.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"  # shipped with the package
PLAN_SCHEMA_PATH = SCHEMA_PATH.parent / "analysis.schema.yaml"


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _message(err) -> str:  # a jsonschema.ValidationError
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        names = ", ".join(f"{key}.{e}" if err.absolute_path else e for e in extra)
        return f"unknown key {names}"
    return f"{key}: {err.message}"


def apply_defaults(cfg, schema: dict):
    """Fill in the schema's ``default`` values, recursively (objects and their additionalProperties)."""
    if not isinstance(cfg, dict) or schema.get("type") != "object":
        return cfg
    for key, sub in schema.get("properties", {}).items():
        if key not in cfg and "default" in sub:
            cfg[key] = copy.deepcopy(sub["default"])
        if key in cfg:
            apply_defaults(cfg[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(cfg) - set(schema.get("properties", {})):
            apply_defaults(cfg[key], extra)
    return cfg


def registered(schema: dict) -> dict:
    """The config schema with the registry's names (flatenn.registry) where it lists datasets,
    penalties, architectures and fault types: one source for what a config may name."""
    from flatenn.registry import ARCHITECTURES, DATASETS, FAULTS, PENALTIES

    p = schema["properties"]
    p["dataset"]["properties"]["name"]["enum"] = list(DATASETS)
    level = p["variants"]["additionalProperties"]["properties"]
    level["penalty"]["enum"] = level["per_arch"]["additionalProperties"]["properties"]["penalty"]["enum"] = list(PENALTIES)
    p["archs"]["items"] = {"enum": list(ARCHITECTURES)}
    faults = p["faults"]["properties"]
    faults["types"]["items"] = {"enum": list(FAULTS)}
    rates = {f: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rate"},
                 "description": f"{FAULTS[f].label} rates ({FAULTS[f].rate_unit})"} for f in FAULTS}
    faults["rates"]["properties"] = rates
    faults["per_arch"]["additionalProperties"]["properties"]["rates"]["properties"] = rates
    p["vulnerability"]["properties"]["fault"]["enum"] = list(FAULTS)
    p["sharpness"]["properties"]["correlation_fault"]["enum"] = list(FAULTS)
    return schema


def validate(cfg: dict, schema_path: Path = SCHEMA_PATH, base=None) -> dict:
    """Check ``cfg`` against the schema and the facts the schema cannot state; fill in defaults.
    A relative ``claims.plan`` is read from ``base`` (the workflow's folder; default: here)."""
    import jsonschema  # here, not above: every job imports this module, only Snakemake validates (0.1 s)

    from flatenn import registry

    schema = registered(yaml.safe_load(Path(schema_path).read_text()))
    extensions = cfg.get("extensions") if isinstance(cfg, dict) else None
    if isinstance(extensions, list) and all(isinstance(e, str) for e in extensions):
        try:  # their names are allowed below
            registry.load_extensions([Path(base or Path.cwd()) / e for e in extensions])
        except FileNotFoundError as e:
            raise ConfigError(str(e)) from None
        except Exception as e:  # a user's file: its own error, in one line
            raise ConfigError(f"extensions: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        schema = registered(yaml.safe_load(Path(schema_path).read_text()))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(_message(errors[0]))
    apply_defaults(cfg, schema)
    ds = cfg["dataset"]
    source = registry.dataset(ds["name"])
    root = ds.get("root") or source.default_root
    if root is None and source.needs_root:
        raise ConfigError(f"dataset.root: {ds['name']} needs a data path")
    if root is not None and not Path(root).is_dir():
        hint = (" (install it with 'apt-get install dataset-fashion-mnist' or point dataset.root "
                "at a torchvision data root)") if ds["name"] == "fashion_mnist" else ""
        raise ConfigError(f"dataset.root: path {root} does not exist{hint}")
    # Settings of a known architecture that this run does not select are kept and unused, so one
    # study config can run one architecture at a time (--config archs=[...]); unknown names fail.
    known = schema["properties"]["archs"]["items"]["enum"]
    per_arch = [("faults.per_arch", cfg["faults"]["per_arch"]), ("training.per_arch", cfg["training"]["per_arch"]),
                ("mechanism.rates", cfg["mechanism"]["rates"] or {})]
    per_arch += [(f"variants.{v}.per_arch", x.get("per_arch", {})) for v, x in cfg["variants"].items()]
    for key, entries in per_arch:
        for arch in entries:
            if arch not in known:
                raise ConfigError(f"{key}.{arch}: unknown architecture (known: {', '.join(known)})")
    rate_sets = {"faults.rates": cfg["faults"]["rates"]}
    for arch, entry in cfg["faults"]["per_arch"].items():
        if arch not in cfg["archs"]:
            continue
        rate_sets[f"faults.per_arch.{arch}.rates"] = {**cfg["faults"]["rates"], **entry["rates"]}
    for key, rates in rate_sets.items():
        for name in cfg["faults"]["types"]:
            if name not in rates:
                raise ConfigError(f"{key}.{name}: no rates given for fault type {name}")
            if 0 not in rates[name]:
                raise ConfigError(f"{key}.{name}: must include 0 (the clean reference of each model)")
    for name in cfg["faults"]["types"]:  # a fault model's effects stay inside the stored word
        try:
            registry.fault(name).check_width(cfg["quant"]["weight_bits"])
        except ValueError as e:
            raise ConfigError(f"faults.types: {e}") from None
    mech = cfg["mechanism"]["rates"]
    for arch in cfg["archs"] if mech else ():
        for name in cfg["faults"]["types"]:
            if name not in mech.get(arch, {}):
                raise ConfigError(f"mechanism.rates.{arch}.{name}: no intervention rate for this architecture "
                                  "and fault type")
    sh = cfg["sharpness"]
    if sh["correlation_rate"] not in cfg["faults"]["rates"].get(sh["correlation_fault"], []):
        raise ConfigError(f"sharpness.correlation_rate: {sh['correlation_rate']} is not among "
                          f"faults.rates.{sh['correlation_fault']}")
    if "standard" not in cfg["variants"]:
        raise ConfigError("variants.standard: the standard variant is the baseline of every claim")
    load_plan(plan_path(cfg, base), key="claims.plan")
    return cfg


def plan_path(cfg: dict, base=None) -> Path:
    """The analysis plan's file: claims.plan, relative to ``base`` (default: here) unless absolute."""
    return Path(base or Path.cwd()) / cfg["claims"]["plan"]


def read_plan(path) -> dict:
    """The analysis plan as written (jobs: Snakemake validated it when the run started)."""
    try:
        plan = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"plan {path}: {e}".splitlines()[0]) from None
    if not isinstance(plan, dict):
        raise ConfigError(f"plan {path}: not a mapping of settings")
    return plan


def window_of(plan: dict) -> tuple[float, float]:
    """The plan's informative window: the share of above-chance accuracy the reference network keeps
    (low, high) at a rate that decides a fault claim."""
    return plan["window"]["low"], plan["window"]["high"]


def load_plan(path, key: str = "--plan") -> dict:
    """Read and validate an analysis plan against schemas/analysis.schema.yaml."""
    import jsonschema

    if not Path(path).is_file():
        raise ConfigError(f"{key}: no analysis plan at {path}")
    from flatenn.registry import FAULTS

    plan = read_plan(path)
    schema = yaml.safe_load(PLAN_SCHEMA_PATH.read_text())
    metric = schema["$defs"]["metric"]["enum"]
    metric += [f"fault_curvature_{f}" for f in FAULTS if f"fault_curvature_{f}" not in metric]
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(plan),
                    key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(f"{key} ({path}): {_message(errors[0])}")
    if plan["window"]["low"] >= plan["window"]["high"]:
        raise ConfigError(f"{key} ({path}): window.low must be below window.high")
    for claim, spec in plan["claims"].items():
        for f in spec.get("faults") if isinstance(spec.get("faults"), list) else ():
            if f not in FAULTS:
                raise ConfigError(f"{key} ({path}): claims.{claim}.faults: unknown fault {f!r} "
                                  f"(one of {', '.join(FAULTS)})")
    return plan


def load(path, base=None) -> dict:
    try:
        cfg = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"config file {path}: {e}".splitlines()[0]) from None
    return validate(cfg or {}, base=base)


def _typed(value):
    """Snakemake reads nested --config values (seeds=[0]) with YAML's BaseLoader, as strings."""
    if isinstance(value, str):
        return yaml.safe_load(value) if value else value
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return value


def _merge(base: dict, update: dict) -> dict:
    for k, v in update.items():
        base[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def resolve(default_file, configfiles, overrides) -> dict:
    """The workflow's config: the config files named on the command line (each a whole
    experiment, so they replace the default rather than merge into it), else the default;
    then each --config key=value on top."""
    cfg = {}
    for f in configfiles or [default_file]:
        try:
            _merge(cfg, yaml.safe_load(Path(f).read_text()) or {})
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"config file {f}: {e}".splitlines()[0]) from None
    return _merge(cfg, _typed(dict(overrides)))


def variant_for(cfg: dict, variant: str, arch: str) -> dict:
    """A variant's settings for one architecture: its own, with its per_arch entry on top."""
    v = dict(cfg["variants"][variant])
    return {**{k: x for k, x in v.items() if k != "per_arch"}, **v.get("per_arch", {}).get(arch, {})}


def training_for(cfg: dict, arch: str) -> dict:
    """An architecture's training settings: training, with its per_arch budget on top."""
    t = cfg["training"]
    return {**{k: v for k, v in t.items() if k != "per_arch"}, **t.get("per_arch", {}).get(arch, {})}


def rates_for(cfg: dict, arch: str) -> dict:
    """An architecture's faulty rates per fault type: faults.rates, with its per_arch entry on top."""
    return {**cfg["faults"]["rates"], **cfg["faults"]["per_arch"].get(arch, {}).get("rates", {})}


def switch_thresholds(cfg: dict, variant: str, arch: str) -> list[float]:
    """The sparsity switch's inference thresholds for one network: an AS network (threshold > 0)
    without its threshold; a standard one with each threshold its architecture's AS networks use."""
    if variant_for(cfg, variant, arch)["threshold"] > 0:
        return [0.0]
    return sorted({t for v in cfg["variants"] if (t := variant_for(cfg, v, arch)["threshold"]) > 0})


def job_settings(cfg: dict, rule: str, **wc) -> dict:
    """The part of the (validated) config that one job of ``rule`` reads, and nothing more:
    Snakemake reruns a job when this changes, so it must be exactly what the job uses."""
    return {**_job_settings(cfg, rule, **wc), "numerics": cfg["numerics"]}


def _job_settings(cfg: dict, rule: str, **wc) -> dict:
    fc = cfg["faults"]
    if rule == "prepare_data":
        return {"dataset": cfg["dataset"]}
    if rule == "train":
        training = training_for(cfg, wc["arch"])
        training["rho"] = training["rho"] if wc["training"] == "saq" else 0.0  # conventional QAT = SAQ at rho 0
        return {"dataset": cfg["dataset"], "quant": cfg["quant"], "variant": variant_for(cfg, wc["variant"], wc["arch"]),
                "training": training, "device": cfg["device"]}
    if rule == "evaluate":
        return {"evaluate": cfg["evaluate"], "device": cfg["device"]}
    if rule == "campaign":  # one fault type per job: its settings name that type's rates only
        types = [wc["fault"]] if "fault" in wc else fc["types"]
        return {"rates": {f: rates_for(cfg, wc["arch"])[f] for f in types}, "trials": fc["trials"],
                "eval_size": fc["eval_size"], "mode": fc["mode"], "maps": fc["maps"], "seed": fc["seed"],
                "device": cfg["device"]}
    if rule == "mechanism":
        mc = cfg["mechanism"]
        return {"rates": {f: mc["rates"][wc["arch"]][f] for f in fc["types"]}, "trials": mc["trials"],
                "eval_size": fc["eval_size"], "mode": fc["mode"], "maps": fc["maps"], "seed": fc["seed"],
                "switch_thresholds": switch_thresholds(cfg, wc["variant"], wc["arch"])}
    if rule == "vulnerability":
        return {**cfg["vulnerability"], "eval_size": fc["eval_size"], "mode": fc["mode"], "maps": fc["maps"],
                "seed": fc["seed"], "device": cfg["device"]}
    if rule == "sharpness":
        sc = {k: v for k, v in cfg["sharpness"].items() if not k.startswith("correlation_")}
        # The landscape figures draw the first seed only: the other seeds skip the grids.
        return {**sc, "seed": fc["seed"], "landscapes": int(wc["seed"]) == cfg["seeds"][0], "fault_types": fc["types"]}
    raise ValueError(f"rule: no job settings for {rule!r}")


def settings_arg(settings: dict) -> str:
    """A job's settings as one canonical JSON string (stable, so params compare equal)."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


class Settings(dict):
    """A job's settings: a key the job needs and the JSON lacks is a settings error naming it
    (a KeyError from anywhere else stays the bug it is)."""

    def __missing__(self, key):
        raise ConfigError(f"--settings: missing key {key!r}")


def parse_settings(text: str) -> dict:
    try:
        value = json.loads(text, object_pairs_hook=Settings)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--settings: not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, dict):
        raise ConfigError("--settings: must be a JSON object")
    return value
