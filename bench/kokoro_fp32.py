"""Rebuild an fp32 Kokoro graph from the int8 one, to time fp32 against int8 (no fp32 file is
reachable offline here).

    python bench/kokoro_fp32.py OUT.onnx [--int8 MODEL]
    OMP_NUM_THREADS=1 python bench/tts.py --kokoro-model OUT.onnx

The int8 model is ONNX Runtime dynamic quantization: DynamicQuantizeLinear on activations,
MatMulInteger / ConvInteger on int8 weights, then Cast and a Mul by the scales (plus an int32
bias for convolutions), and DynamicQuantizeLSTM. Each such pattern becomes MatMul / Conv / LSTM
on the dequantized weights ((w - zero point) x scale; LSTM weights transposed back). Its
durations agree with the int8 model's within a frame or two; it is no more accurate than the
int8 weights it comes from, only computed in fp32.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


class Graph:
    """Producers, consumers and initializers of an ONNX graph."""

    def __init__(self, model):
        self.g = model.graph
        self.inits = {t.name: t for t in self.g.initializer}
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.consumers = collections.defaultdict(list)
        for n in self.g.node:
            for i in n.input:
                self.consumers[i].append(n)

    def array(self, name: str) -> np.ndarray:
        """An initializer as a numpy array."""
        return numpy_helper.to_array(self.inits[name])

    def dequantize(self, weight: str, scale: str, zero: str, axis: int) -> np.ndarray:
        """(w - zero point) x scale, per tensor or per channel along `axis`."""
        w = self.array(weight).astype(np.float32)
        s, z = self.array(scale).astype(np.float32), self.array(zero).astype(np.float32)
        if s.ndim:
            shape = [1] * w.ndim
            shape[axis] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        return (w - z) * s

    def float_bias(self, start: str, channels: int) -> str | None:
        """The float bias initializer feeding an int32 bias, searched upstream of `start`."""
        todo = [start]
        while todo:
            t = todo.pop()
            tensor = self.inits.get(t)
            if tensor is not None and tensor.data_type == onnx.TensorProto.FLOAT and \
                    t.endswith("bias") and list(tensor.dims) == [channels]:
                return t
            node = self.producer.get(t)
            if node is not None and node.op_type != "DynamicQuantizeLinear":
                todo += list(node.input)
        return None


def rebuild(model) -> collections.Counter:
    """Replace every dynamic-quantized pattern in place; counts of the new nodes."""
    gr = Graph(model)
    weights, replace, dropped, counts = {}, {}, set(), collections.Counter()
    for n in gr.g.node:
        if n.op_type in ("MatMulInteger", "ConvInteger"):
            x = gr.producer[n.input[0]].input[0]  # the float input of DynamicQuantizeLinear
            name = n.input[1].removesuffix("_quantized")
            conv = n.op_type == "ConvInteger"
            weights[name + "_fp32"] = gr.dequantize(n.input[1], name + "_scale", n.input[3],
                                                    0 if conv else 1)
            chain, bias = [n], None
            while chain[-1].op_type != "Mul":
                nxt = gr.consumers[chain[-1].output[0]][0]
                if nxt.op_type == "Add":
                    other = next(i for i in nxt.input if i != chain[-1].output[0])
                    bias = gr.float_bias(other, weights[name + "_fp32"].shape[0])
                chain.append(nxt)
            inputs = [x, name + "_fp32"] + ([bias] if bias else [])
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            replace[id(n)] = helper.make_node("Conv" if conv else "MatMul", inputs,
                                              [chain[-1].output[0]], **attrs)
            dropped |= {id(c) for c in chain}
            counts["Conv" if conv else "MatMul"] += 1
        elif n.op_type == "DynamicQuantizeLSTM":
            i = list(n.input) + [""] * (12 - len(n.input))
            for k, (q, s, z) in enumerate(((1, 8, 9), (2, 10, 11))):
                w = gr.dequantize(i[q], i[s], i[z], 0).transpose(0, 2, 1)
                weights[i[q].removesuffix("_quantized") + "_fp32"] = np.ascontiguousarray(w)
            inputs = [i[0], i[1].removesuffix("_quantized") + "_fp32",
                      i[2].removesuffix("_quantized") + "_fp32", *i[3:8]]
            while not inputs[-1]:
                inputs.pop()
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            replace[id(n)] = helper.make_node("LSTM", inputs, list(n.output), **attrs)
            dropped.add(id(n))
            counts["LSTM"] += 1
    nodes = [replace.get(id(n), n) for n in gr.g.node if id(n) in replace or id(n) not in dropped]
    outputs = {o.name for o in gr.g.output}
    while True:  # drop nodes nothing reads any more (the quantizers)
        read = {i for n in nodes for i in n.input} | outputs
        kept = [n for n in nodes if any(o in read for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del gr.g.node[:]
    gr.g.node.extend(nodes)
    read = {i for n in nodes for i in n.input}
    inits = [t for t in gr.g.initializer if t.name in read]
    inits += [numpy_helper.from_array(w, name) for name, w in weights.items()]
    del gr.g.initializer[:]
    gr.g.initializer.extend(inits)
    return counts


def main(argv=None) -> int:
    """Write the rebuilt fp32 model."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="the fp32 ONNX file to write")
    p.add_argument("--int8", type=Path, default=None,
                   help="the int8 model (default: joined from the kokoro extra's wheels)")
    args = p.parse_args(argv)
    from data_prep.engines import kokoro_assets
    model = onnx.load(str(args.int8 or kokoro_assets.joined_model()))
    counts = rebuild(model)
    onnx.save(model, str(args.out))
    print(f"wrote {args.out}: {dict(counts)} rebuilt in fp32")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
