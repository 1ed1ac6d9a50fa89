"""Put a converted student where the page looks for it: model/student.onnx (or .ort) and model/meta.json.

    python examples/web/prepare.py OUT/student.onnx      # or OUT/student.ort

meta.json holds what the browser needs from the model's metadata (input signature, preprocessing,
class names) and the model file's name, read here (with the onnx package, or onnxruntime for an .ort
file) so the page does not parse the model itself.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent


def prepare(model: str | pathlib.Path, dest: pathlib.Path = HERE / "model") -> pathlib.Path:
    """Copy ``model`` (.onnx, or .ort) into ``dest`` with a meta.json naming it; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    model = pathlib.Path(model)
    meta, inputs, width = _ort_signature(model) if model.suffix == ".ort" else _onnx_signature(model)
    pre = json.loads(meta.get("edgedistill.preprocessing", "{}"))
    name = "student.ort" if model.suffix == ".ort" else "student.onnx"
    info = {
        "model_file": name,
        "inputs": inputs,
        "mean": float(pre.get("mean", 0.0)), "std": float(pre.get("std", 1.0)),
        "class_names": json.loads(meta["edgedistill.class_names"]) if "edgedistill.class_names" in meta else [str(i) for i in range(width)],
    }
    for old in ("student.onnx", "student.ort"):
        (dest / old).unlink(missing_ok=True)
    shutil.copyfile(model, dest / name)
    (dest / "meta.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return dest


def _onnx_signature(model: pathlib.Path) -> tuple[dict[str, str], list[dict], int]:
    import onnx

    m = onnx.load(str(model), load_external_data=False)
    initializers = {i.name for i in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in initializers)

    def dims(value_info):
        return [d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]

    return {p.key: p.value for p in m.metadata_props}, [{"name": inp.name, "shape": dims(inp)}], dims(m.graph.output[0])[-1]


def _ort_signature(model: pathlib.Path) -> tuple[dict[str, str], list[dict], int]:
    """An ORT-format file is a flatbuffer, not a protobuf: read its signature through an onnxruntime session."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]

    def dims(shape):
        return [d if isinstance(d, int) else -1 for d in shape]

    return dict(sess.get_modelmeta().custom_metadata_map), [{"name": inp.name, "shape": dims(inp.shape)}], dims(out.shape)[-1]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/web/prepare.py OUT/student.onnx|OUT/student.ort")
    dest = prepare(sys.argv[1])
    print(f"wrote {dest}/{json.loads((dest / 'meta.json').read_text())['model_file']} and meta.json")
