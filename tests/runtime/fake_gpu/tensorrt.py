"""A stand-in for TensorRT's Python API (see README.md)."""

import numpy as np

from cuda.bindings import runtime as _cudart

__version__ = "10.0.0-fake"


class Logger:
    WARNING = 2

    def __init__(self, level):
        self.level = level


class TensorIOMode:
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class _Context:
    def __init__(self):
        self.shape, self.addresses = None, {}

    def set_input_shape(self, name, shape):
        assert name == "nir"
        self.shape = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        assert name == "rgb"
        n, _, h, w = self.shape
        return (n, h, w, 3)

    def set_tensor_address(self, name, address):
        assert isinstance(address, int)
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream):
        assert isinstance(stream, int)
        n, _, h, w = self.shape
        nir = np.frombuffer(bytes(_cudart.MEMORY[self.addresses["nir"]][: n * h * w]), np.uint8).reshape(n, h, w)
        rgb = np.stack([nir, 255 - nir, nir // 2], axis=-1)
        _cudart.MEMORY[self.addresses["rgb"]][: rgb.nbytes] = rgb.tobytes()
        return True


class _Engine:
    num_io_tensors = 2

    def get_tensor_name(self, i):
        return ("nir", "rgb")[i]

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if name == "nir" else TensorIOMode.OUTPUT

    def create_execution_context(self):
        return _Context()


class Runtime:
    def __init__(self, logger):
        self.logger = logger

    def deserialize_cuda_engine(self, data):
        return _Engine() if bytes(data) == b"fake plan" else None
