"""Put a converted student where the page looks for it: model/student.onnx and model/meta.json.

    python examples/web/prepare.py OUT/student.onnx

meta.json holds what the browser needs from the model's metadata (input signature, preprocessing,
class names), read here with the onnx package so the page does not parse ONNX protobufs itself.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import sys

import onnx

HERE = pathlib.Path(__file__).resolve().parent


def prepare(model: str | pathlib.Path, dest: pathlib.Path = HERE / "model") -> pathlib.Path:
    dest.mkdir(parents=True, exist_ok=True)
    m = onnx.load(str(model), load_external_data=False)
    meta = {p.key: p.value for p in m.metadata_props}
    pre = json.loads(meta.get("edgedistill.preprocessing", "{}"))
    initializers = {i.name for i in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in initializers)

    def dims(value_info):
        return [d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]

    width = dims(m.graph.output[0])[-1]
    info = {
        "inputs": [{"name": inp.name, "shape": dims(inp)}],
        "mean": float(pre.get("mean", 0.0)), "std": float(pre.get("std", 1.0)),
        "class_names": json.loads(meta["edgedistill.class_names"]) if "edgedistill.class_names" in meta else [str(i) for i in range(width)],
    }
    shutil.copyfile(model, dest / "student.onnx")
    (dest / "meta.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/web/prepare.py OUT/student.onnx")
    print(f"wrote {prepare(sys.argv[1])}/student.onnx and meta.json")
