"""tdnn: speech-oriented 1D time-delay scanning networks (TDNNs)."""

__version__ = "0.1.0"
