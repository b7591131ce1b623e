"""A stand-in for cuda-python's runtime API (see README.md): device memory is host memory."""

import ctypes
import types

MEMORY: dict[int, bytearray] = {}
_next = [0x1000]
SUCCESS = 0

cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
cudaDeviceAttr = types.SimpleNamespace(cudaDevAttrComputeCapabilityMajor=75, cudaDevAttrComputeCapabilityMinor=76)


def cudaGetDeviceCount():
    return SUCCESS, 1


def cudaDeviceGetAttribute(attr, device):
    return SUCCESS, {75: 8, 76: 7}[attr]


def cudaMalloc(nbytes):
    ptr = _next[0]
    _next[0] += nbytes + 256
    MEMORY[ptr] = bytearray(nbytes)
    return SUCCESS, ptr


def cudaFree(ptr):
    del MEMORY[ptr]
    return (SUCCESS,)


def cudaStreamCreate():
    return SUCCESS, 7


def cudaStreamSynchronize(stream):
    return (SUCCESS,)


def cudaStreamDestroy(stream):
    return (SUCCESS,)


def cudaMemcpyAsync(dst, src, nbytes, kind, stream):
    if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
        MEMORY[dst][:nbytes] = ctypes.string_at(src, nbytes)
    else:
        ctypes.memmove(dst, bytes(MEMORY[src][:nbytes]), nbytes)
    return (SUCCESS,)
