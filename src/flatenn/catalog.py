"""Facts about the datasets and architectures that the workflow, tables and figures need without torch.

Snakemake (through config validation) and the table and figure jobs import this module, not
``data`` or ``models``: importing torch costs 2-3 s of every process that does (measured: half of
a `snakemake -n` on the ci config, a quarter of a ci table job)."""

# Where Debian's dataset-fashion-mnist package puts the IDX files.
DEBIAN_FASHION_ROOT = "/usr/share/datasets/fashion-mnist"

# Classes per dataset: the chance level of accuracy tables.
NUM_CLASSES = {"fashion_mnist": 10, "digits": 10, "cifar10": 10}

# Weight layers on the main path: the x axis of the depth figure.
DEPTH = {"lenet5": 5, "resnet8": 8, "resnet20": 20}


def landscape_2d_figure(arch: str, variant: str, training: str) -> str:
    """The file stem of one network configuration's 2D loss-landscape figure (the workflow declares
    these outputs and the figure job writes them: one name, used by both)."""
    return f"landscape_2d_{arch}_{variant}_{training}"
