from .registry import ARCHITECTURES, create

__all__ = ["ARCHITECTURES", "create"]
