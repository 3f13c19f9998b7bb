"""Load and validate a workflow config; every error is one line that names the key."""
from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _message(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        names = ", ".join(f"{key}.{e}" if err.absolute_path else e for e in extra)
        return f"unknown key {names}"
    if err.validator == "required":
        return f"{key}: {err.message}"
    return f"{key}: {err.message}"


def validate(cfg: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Check ``cfg`` against the schema and the facts the schema cannot state."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(_message(errors[0]))
    ds = cfg["dataset"]
    if ds["name"] in ("fashion_mnist", "cifar10"):
        from flatenn.data import DEBIAN_FASHION_ROOT

        root = ds.get("root") or (DEBIAN_FASHION_ROOT if ds["name"] == "fashion_mnist" else None)
        if root is None:
            raise ConfigError(f"dataset.root: {ds['name']} needs a data path")
        if not Path(root).is_dir():
            hint = (" (install it with 'apt-get install dataset-fashion-mnist' or point dataset.root "
                    "at a torchvision data root)") if ds["name"] == "fashion_mnist" else ""
            raise ConfigError(f"dataset.root: path {root} does not exist{hint}")
    for name in cfg["faults"]["types"]:
        if name not in cfg["faults"]["rates"]:
            raise ConfigError(f"faults.rates.{name}: no rates given for fault type {name}")
        if 0 not in cfg["faults"]["rates"][name]:
            raise ConfigError(f"faults.rates.{name}: must include 0 (the clean reference of each model)")
    sh = cfg["sharpness"]
    if sh["correlation_rate"] not in cfg["faults"]["rates"].get(sh["correlation_fault"], []):
        raise ConfigError(f"sharpness.correlation_rate: {sh['correlation_rate']} is not among "
                          f"faults.rates.{sh['correlation_fault']}")
    if "standard" not in cfg["variants"]:
        raise ConfigError("variants.standard: the standard variant is the baseline of every claim")
    return cfg


def load(path) -> dict:
    try:
        cfg = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"config file {path}: {e}".splitlines()[0]) from None
    return validate(cfg or {})
