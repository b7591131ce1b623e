"""nircolor: near-infrared to RGB colorization for driver-assistance displays."""

__version__ = "0.1.0"
