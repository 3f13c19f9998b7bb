"""Facts about the datasets and architectures that the workflow, tables and figures need without torch.

Snakemake (through config validation) and the table and figure jobs import this module, not
``data`` or ``models``: importing torch costs 2-3 s of every process that does (measured: half of
a `snakemake -n` on the ci config, a quarter of a ci table job)."""

from collections.abc import Mapping

# Where Debian's dataset-fashion-mnist package puts the IDX files.
DEBIAN_FASHION_ROOT = "/usr/share/datasets/fashion-mnist"


class _DatasetFacts(Mapping):
    """One field of every registered dataset (flatenn.registry), read at each lookup, so a
    dataset an extension registers later is there too."""

    def __init__(self, field: str):
        self.field = field

    def __getitem__(self, name):
        from flatenn.registry import DATASETS

        return getattr(DATASETS[name], self.field)

    def __iter__(self):
        from flatenn.registry import DATASETS

        return iter(list(DATASETS))

    def __len__(self):
        from flatenn.registry import DATASETS

        return len(DATASETS)


NUM_CLASSES = _DatasetFacts("num_classes")  # classes per dataset: the chance level of accuracy tables
SHAPES = _DatasetFacts("shape")  # image shape per dataset: what check-config builds every architecture for


def chance_levels(datasets) -> dict[str, float]:
    """The chance level of accuracy (1 / classes) of each dataset named; an unknown one is a
    ValueError that names it."""
    from flatenn.registry import DATASETS

    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"clean: no class count known for dataset {unknown[0]!r} (flatenn.catalog)")
    return {ds: 1 / NUM_CLASSES[ds] for ds in sorted(set(datasets))}


def depth(arch: str) -> int:
    """Weight layers on the main path of a registered architecture (the x axis of the depth
    figures, the order of "deeper minus shallower"); an unknown name is a ValueError."""
    from flatenn.registry import architecture

    return architecture(arch).depth


def landscape_2d_figure(arch: str, variant: str, training: str) -> str:
    """The file stem of one network configuration's 2D loss-landscape figure (the workflow declares
    these outputs and the figure job writes them: one name, used by both)."""
    return f"landscape_2d_{arch}_{variant}_{training}"
