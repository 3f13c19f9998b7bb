"""FlatENN: fault tolerance of quantized, activation-sparse DNNs and sharpness-aware training."""

__version__ = "0.1.0"
