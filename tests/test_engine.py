"""The distillation engine: student families, user and decompose students, losses, the loop's stopping
rules, online teacher mode, data formats and torchrun."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch

from conftest import TEACHER, invoke
from test_errors import assert_user_error

from edgedistill.data import load_dataset
from edgedistill.losses import combined_loss, cosine_loss, hint_loss, kd_loss, mse_loss
from edgedistill.students import create_student
from edgedistill.teacher import OnnxTeacher

QUICK = ["--teacher", TEACHER, "--epochs", "2", "--log-every", "1"]


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family, args", [("cnn", []), ("mobilenet", ["--student-arg", "width=0.25"]), ("transformer", ["--student-arg", "dim=16"]),
                                          ("decompose", ["--student-arg", "rank_ratio=0.1"])])
def test_each_family_distills_and_converts(family, args, tmp_path):
    res = invoke("distill", *QUICK, "--student", family, *args, "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "parameters vs teacher 151,306" in res.output and "MACs per sample" in res.output
    spec = json.loads((tmp_path / "run" / "student.json").read_text())
    assert spec["family"] == family
    res = invoke("convert", tmp_path / "run", "-o", tmp_path / "onnx", "--no-latency")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "onnx" / "convert.json").read_text())["parity"]["passed"]


def test_mlp_macs_are_counted():
    from edgedistill.distill import torch_macs

    model = create_student("mlp", input_shape=(1, 8, 8), num_outputs=10)
    assert torch_macs(model, np.zeros((1, 1, 8, 8), np.float32)) == 64 * 32 + 32 * 10


def test_transformer_on_token_ids(tmp_path):
    class Bag(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.emb, self.head = torch.nn.Embedding(30, 16), torch.nn.Linear(16, 4)

        def forward(self, ids):
            return self.head(self.emb(ids).mean(1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Bag().eval(), (torch.zeros(2, 12, dtype=torch.long),), str(tmp_path / "bag.onnx"), dynamo=False,
                          input_names=["ids"], output_names=["logits"], dynamic_axes={"ids": {0: "b"}, "logits": {0: "b"}})
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tokens.npz", x=rng.integers(0, 30, (400, 12)))
    res = invoke("distill", "--teacher", tmp_path / "bag.onnx", "--data", tmp_path / "tokens.npz", "--student", "transformer",
                 "--student-arg", "vocab_size=30", "--student-arg", "dim=16", "--epochs", "15", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert _metrics(tmp_path / "run")[-1]["val_agreement"] > 0.5
    spec = json.loads((tmp_path / "run" / "student.json").read_text())
    assert spec["input"]["dtype"] == "int64"
    res = invoke("convert", tmp_path / "run", "-o", tmp_path / "onnx", "--no-latency")
    assert res.exit_code == 0, res.output


USER_STUDENT = '''
import torch

class Tiny(torch.nn.Module):
    def __init__(self, input_shape, num_outputs, width=8):
        super().__init__()
        n = 1
        for d in input_shape:
            n *= d
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n, width), torch.nn.ReLU(), torch.nn.Linear(width, num_outputs))

    def forward(self, x):
        return self.net(x)


def not_a_module(input_shape, num_outputs):
    return 42
'''


def test_user_student_module(tmp_path, monkeypatch):
    (tmp_path / "my_students.py").write_text(USER_STUDENT)
    res = invoke("distill", *QUICK, "--student", f"{tmp_path / 'my_students.py'}:Tiny", "--student-arg", "width=6", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    spec = json.loads((tmp_path / "run" / "student.json").read_text())
    assert spec["family"] == f"{tmp_path / 'my_students.py'}:Tiny" and spec["kwargs"] == {"width": 6}
    assert sum(v.numel() for v in torch.load(tmp_path / "run" / "student.pt", weights_only=True).values()) == 64 * 6 + 6 + 6 * 10 + 10
    # Rebuilt from student.json from another working directory.
    monkeypatch.chdir(tmp_path.parent)
    assert invoke("convert", tmp_path / "run", "-o", tmp_path / "onnx", "--no-latency").exit_code == 0
    # package.module:factory form, found on sys.path.
    monkeypatch.syspath_prepend(str(tmp_path))
    assert invoke("distill", *QUICK, "--student", "my_students:Tiny", "-o", tmp_path / "run2").exit_code == 0
    assert_user_error(invoke("distill", *QUICK, "--student", "my_students:not_a_module", "-o", tmp_path / "r3"), "returned int, not a torch.nn.Module")
    assert_user_error(invoke("distill", *QUICK, "--student", "my_students:Missing", "-o", tmp_path / "r4"), "has no class or function 'Missing'")


def test_user_student_module_that_raises_on_import(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\nraise RuntimeError('cuda not found')\n")
    res = invoke("distill", *QUICK, "--student", f"{tmp_path / 'broken.py'}:Tiny", "-o", tmp_path / "run")
    assert_user_error(res, "importing your student module", "RuntimeError: cuda not found")
    assert not (tmp_path / "run" / "student.pt").exists()


def test_decompose_starts_from_the_teacher(tmp_path):
    x, _ = load_dataset("builtin:digits").part("val")
    x = x.reshape(-1, 1, 8, 8)
    teacher = OnnxTeacher(TEACHER).run(x, progress=False)
    full = create_student("decompose", input_shape=(1, 8, 8), num_outputs=10, teacher=str(TEACHER), rank_ratio=1.0).eval()
    with torch.no_grad():
        assert np.abs(full(torch.from_numpy(x)).numpy() - teacher).max() < 1e-4  # full rank: the teacher itself
    sizes = {r: sum(p.numel() for p in create_student("decompose", input_shape=(1, 8, 8), num_outputs=10, teacher=str(TEACHER),
                                                    rank_ratio=r).parameters()) for r in (0.5, 0.25, 0.1)}
    assert 151306 > sizes[0.5] > sizes[0.25] > sizes[0.1]
    by_energy = create_student("decompose", input_shape=(1, 8, 8), num_outputs=10, teacher=str(TEACHER), energy=0.9)
    assert all(r["factorised"] for r in by_energy.report) and [r["rank"] for r in by_energy.report][0] < 9


def test_decompose_refuses_unsupported_ops(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sin", ["x"], ["h"]), helper.make_node("Cos", ["h"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "trig.onnx"))
    res = invoke("distill", "--teacher", tmp_path / "trig.onnx", "--student", "decompose", "--teacher-kind", "regression", "-o", tmp_path / "r")
    assert_user_error(res, "decompose cannot rebuild ops Cos, Sin")


def test_blockwise_pretraining_then_fine_tuning(tmp_path):
    res = invoke("distill", *QUICK, "--student", "decompose", "--student-arg", "rank_ratio=0.25", "--blockwise", "relu,max_pool2d",
                 "--block-epochs", "2", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("blockwise: block up to")]
    assert len(lines) == 2 and "relu" in lines[0] and "max_pool2d" in lines[1]
    assert_user_error(invoke("distill", *QUICK, "--blockwise", "relu", "-o", tmp_path / "r2"), "needs --student decompose")
    res = invoke("distill", *QUICK, "--student", "decompose", "--blockwise", "nope", "-o", tmp_path / "r3")
    assert_user_error(res, "no intermediate tensor nope")


def test_losses_against_hand_computations():
    s = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    t = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    assert mse_loss(s, t).item() == pytest.approx(((1 - 0) ** 2 + 0 + (3 - 1) ** 2 + (-1 - 1) ** 2) / 4)
    cos = [(1 * 0 + 2 * 2) / (5**0.5 * 2), (3 * 1 - 1 * 1) / (10**0.5 * 2**0.5)]
    assert cosine_loss(s, t).item() == pytest.approx(1 - sum(cos) / 2, rel=1e-6)
    assert hint_loss(s, t, torch.nn.Identity()).item() == pytest.approx(mse_loss(s, t).item())
    proj = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    target = torch.zeros(2, 3)
    assert hint_loss(s, target, proj).item() == pytest.approx((1 + 4 + 9 + 9 + 1 + 4) / 6)
    both = combined_loss(s, t, None, weights={"kd": 2.0, "cosine": 0.5}, temperature=2.0, alpha=0.5, kind="logits").item()
    assert both == pytest.approx(2 * kd_loss(s, t, temperature=2.0).item() + 0.5 * cosine_loss(s, t).item(), rel=1e-6)
    y = torch.tensor([1, 0])
    ce = torch.nn.functional.cross_entropy(s, y).item()
    assert combined_loss(s, t, y, weights={"mse": 1.0}, temperature=2.0, alpha=0.3, kind="logits").item() == pytest.approx(
        mse_loss(s, t).item() + 0.3 * ce, rel=1e-6)


def test_hint_loss_on_a_teacher_tensor(tmp_path):
    res = invoke("distill", *QUICK, "--hint", "relu_2", "--hint-weight", "0.5", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "hint on relu_2 (128 values per sample) from the student's 32 penultimate features through a learned projection" in res.output
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["projection"]["weight"].shape == (128, 32)
    res = invoke("distill", *QUICK, "--loss", "kd:1,cosine:0.5", "-o", tmp_path / "run2")
    assert res.exit_code == 0, res.output
    assert_user_error(invoke("distill", *QUICK, "--loss", "kd:1,huber:1", "-o", tmp_path / "r3"), "--loss takes name:weight terms")


def test_stopping_rules(tmp_path):
    res = invoke("distill", "--teacher", TEACHER, "--epochs", "50", "--max-steps", "25", "-o", tmp_path / "steps")
    assert res.exit_code == 0 and "stopped early: reached --max-steps 25" in res.output
    assert _metrics(tmp_path / "steps")[-1]["step"] == 25 and len(_metrics(tmp_path / "steps")) == 2
    res = invoke("distill", "--teacher", TEACHER, "--epochs", "50", "--stop-at-loss", "3.0", "-o", tmp_path / "loss")
    assert res.exit_code == 0 and "reached --stop-at-loss 3.0" in res.output
    assert _metrics(tmp_path / "loss")[-1]["train_loss"] <= 3.0 and len(_metrics(tmp_path / "loss")) < 50
    res = invoke("distill", "--teacher", TEACHER, "--epochs", "200", "--patience", "3", "--lr", "0.05", "-o", tmp_path / "pat")
    assert res.exit_code == 0 and "--patience" in res.output
    m = _metrics(tmp_path / "pat")
    assert len(m) < 200 and max(e["val_agreement"] for e in m[-3:]) <= max(e["val_agreement"] for e in m[:-3])
    # A stopped run stays stopped on --resume.
    res = invoke("distill", "--resume", "-o", tmp_path / "pat")
    assert res.exit_code == 0 and len(_metrics(tmp_path / "pat")) == len(m)


def test_fast_kd_path_trains_and_reports_like_the_general_path(tmp_path):
    """KD alone on cached outputs takes the closed-form-gradient path; a zero-weight extra term forces the
    general autograd path. Same seed, same data: the same weights and the same reported KL."""
    import edgedistill as ed

    quiet = lambda *_: None  # noqa: E731
    for name, losses in (("fast", {"kd": 2.0}), ("general", {"kd": 2.0, "mse": 0.0})):
        ed.distill(teacher=TEACHER, epochs=2, losses=losses, cache_dir=tmp_path / "cache", out=tmp_path / name, progress=False, log=quiet)
    fast, general = _metrics(tmp_path / "fast"), _metrics(tmp_path / "general")
    for a, b in zip(fast, general):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_kl"] == pytest.approx(b["val_kl"], rel=1e-3)
    assert 0 < fast[1]["train_loss"] < fast[0]["train_loss"]  # KL itself (entropy constant included), and it falls
    a, b = (torch.load(tmp_path / d / "student.pt", weights_only=True) for d in ("fast", "general"))
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


def test_non_finite_loss_stops_with_epoch_and_step(tmp_path):
    res = invoke("distill", "--teacher", TEACHER, "--epochs", "3", "--lr", "1e30", "-o", tmp_path / "run")
    assert_user_error(res, "loss became", "at epoch", "step", "lower --lr")


def test_online_teacher_with_augmentation_resumes_exactly(tmp_path):
    (tmp_path / "aug.py").write_text("import numpy as np\ndef flip(x, rng):\n    return x[..., ::-1].copy() if rng.random() < 0.5 else x\n")
    args = ["--teacher", str(TEACHER), "--epochs", "12", "--batch-size", "16", "--augment", "noise=0.05,mixup=0.4",
            "--augment-fn", f"{tmp_path / 'aug.py'}:flip"]
    ref = invoke("distill", *args, "-o", tmp_path / "ref")
    assert ref.exit_code == 0, ref.output
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "edgedistill", "-q", "distill", *args, "-o", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("finished before the kill")
    assert invoke("distill", "--resume", "-o", run).exit_code == 0
    a, b = (torch.load(d / "student.pt", weights_only=True) for d in (tmp_path / "ref", run))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert_user_error(invoke("distill", "--teacher", TEACHER, "--augment", "mixup=0.2", "--labels", "-o", tmp_path / "x"), "drop --labels")
    assert_user_error(invoke("distill", "--teacher", TEACHER, "--augment", "blur=1", "-o", tmp_path / "y"), "noise=STD and mixup=ALPHA")


def test_data_formats(tmp_path):
    ds = load_dataset("builtin:digits")
    np.save(tmp_path / "x.npy", ds.x[:200].astype(np.float32))
    npy = load_dataset(str(tmp_path / "x.npy"))
    assert npy.x.shape == (200, 64) and npy.y is None
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    rows = "\n".join(",".join(map(str, [*r, int(c)])) for r, c in zip(ds.x[:300], ds.y[:300]))
    (tmp_path / "d.csv").write_text(header + "\n" + rows + "\n")
    csv = load_dataset(str(tmp_path / "d.csv"))
    assert csv.x.shape == (300, 64) and np.array_equal(csv.y, ds.y[:300])
    res = invoke("distill", "--teacher", TEACHER, "--data", tmp_path / "d.csv", "--epochs", "2", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    PIL = pytest.importorskip("PIL.Image")
    for i, (img, label) in enumerate(zip(ds.x[:40], ds.y[:40])):
        (tmp_path / "imgs" / f"digit{label}").mkdir(parents=True, exist_ok=True)
        PIL.fromarray((img.reshape(8, 8) * 15).astype(np.uint8)).save(tmp_path / "imgs" / f"digit{label}" / f"{i}.png")
    folder = load_dataset(str(tmp_path / "imgs"))
    assert folder.x.shape == (40, 1, 8, 8) and folder.preprocessing.std == 255.0
    assert folder.class_names == sorted({f"digit{v}" for v in ds.y[:40]})
    res = invoke("distill", "--teacher", TEACHER, "--data", tmp_path / "imgs", "--epochs", "2", "-o", tmp_path / "run2")
    assert res.exit_code == 0, res.output
    spec = json.loads((tmp_path / "run2" / "student.json").read_text())
    assert spec["preprocessing"] == {"mean": 0.0, "std": 255.0} and spec["class_names"][0] == folder.class_names[0]
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    assert_user_error(invoke("distill", "--teacher", TEACHER, "--data", tmp_path / "bad.csv", "-o", tmp_path / "r3"), "not a number")


def test_torchrun_two_processes_match_one(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    args = ["--teacher", str(TEACHER), "--epochs", "3", "--batch-size", "64", "--seed", "1"]
    single = invoke("distill", *args, "-o", tmp_path / "one")
    assert single.exit_code == 0, single.output
    env = {**os.environ, "EDGEDISTILL_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "edgedistill", "-q", "distill", *args, "-o",
                           str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote ") == 1, "only rank 0 writes and reports"
    a, b = (torch.load(d / "student.pt", weights_only=True) for d in (tmp_path / "one", tmp_path / "two"))
    assert all(torch.allclose(a[k], b[k], atol=1e-2) for k in a), max((a[k] - b[k]).abs().max().item() for k in a)
    m1, m2 = _metrics(tmp_path / "one")[-1], _metrics(tmp_path / "two")[-1]
    assert abs(m1["val_agreement"] - m2["val_agreement"]) <= 0.02
    assert not list((tmp_path / "cache").glob("*.rank*.npy")), "rank shards are merged and removed"


class _Halves(torch.nn.Module):
    """A two-input digits teacher: the top and the bottom half of the 8×8 image as separate inputs."""

    def __init__(self):
        super().__init__()
        self.top, self.bottom = torch.nn.Linear(32, 48), torch.nn.Linear(32, 48)
        self.head = torch.nn.Linear(96, 10)

    def forward(self, top, bottom):
        return self.head(torch.relu(torch.cat([self.top(top), self.bottom(bottom)], 1)))


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """(teacher.onnx, data.npz): the two-input teacher trained on the digits training split, and the digits
    data stored as two named arrays."""
    tmp = tmp_path_factory.mktemp("halves")
    ds = load_dataset("builtin:digits")
    x = (ds.x / 16.0).astype(np.float32).reshape(-1, 64)
    np.savez(tmp / "halves.npz", top=x[:, :32], bottom=x[:, 32:], y=ds.y, split=ds.split)
    torch.manual_seed(0)
    model, train = _Halves(), ds.split == 0
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(ds.y[train]).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt[:, :32], xt[:, 32:]), yt).backward()
        opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (xt[:2, :32], xt[:2, 32:]), str(tmp / "halves.onnx"), input_names=["top", "bottom"],
                          output_names=["logits"], dynamic_axes={"top": {0: "batch"}, "bottom": {0: "batch"}, "logits": {0: "batch"}},
                          dynamo=False)
    return tmp / "halves.onnx", tmp / "halves.npz"


def test_multi_input_teacher_distill_convert_profile_embed(halves, tmp_path):
    import onnxruntime as ort

    from edgedistill.runtime import Predictor, PredictorError

    teacher, data = halves
    res = invoke("distill", "--teacher", teacher, "--data", data, "--labels", "--epochs", "30", "--student-arg", "hidden=64",
                 "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "inputs top [None, 32], bottom [None, 32]" in res.output
    m = _metrics(tmp_path / "run")
    assert m[-1]["val_agreement"] > 0.85 and m[-1]["val_accuracy"] > 0.85
    spec = json.loads((tmp_path / "run" / "student.json").read_text())
    assert [(i["name"], i["shape"]) for i in spec["inputs"]] == [("top", [None, 32]), ("bottom", [None, 32])]

    # static int8 calibrates on both inputs; fixed shapes and the .ort cover both
    res = invoke("convert", tmp_path / "run", "-o", tmp_path / "onnx", "--quantize", "static", "--fixed-shape", "--format", "ort", "--no-latency")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "onnx" / "convert.json").read_text())
    assert report["parity"]["passed"] and report["parity"]["samples"] == 179
    quant = next(s for s in report["steps"] if s["step"] == "quantize")
    assert quant["calibration"]["samples"] > 100 and quant["accuracy"] > 0.8
    fixed = next(s for s in report["steps"] if s["step"] == "fixed_shape")
    assert fixed["inputs"] == {"top": [1, 32], "bottom": [1, 32]}
    sess = ort.InferenceSession(str(tmp_path / "onnx" / "student.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in sess.get_inputs()] == [("top", "tensor(float)"), ("bottom", "tensor(float)")]

    # profile the fixed-batch .ort on the test split (padded chunks, two inputs) against the teacher
    (ort_file,) = (tmp_path / "onnx").glob("*.ort")
    res = invoke("profile", ort_file, "--data", data, "--teacher", teacher, "--runs", "20", "--min-seconds", "0.1",
                 "--warmup-seconds", "0.05", "-o", tmp_path / "p")
    assert res.exit_code == 0, res.output
    acc = json.loads((tmp_path / "p" / "profile.json").read_text())["accuracy"]
    assert acc["samples"] == 359 and acc["top1"] > 0.8 and acc["teacher_agreement"] > 0.8

    # embed: run() takes both inputs by name; predict_proba says to use run()
    d = np.load(data)
    p = Predictor(tmp_path / "onnx" / "student.onnx")
    out = p.run({"top": d["top"][:5], "bottom": d["bottom"][:5]})["logits"]
    assert np.allclose(out, sess.run(None, {"top": d["top"][:5], "bottom": d["bottom"][:5]})[0], atol=1e-6)
    with pytest.raises(PredictorError, match="use run"):
        p.predict_proba(d["top"][:5])


def test_multi_input_teacher_refuses_one_input_students_and_options(halves, tmp_path):
    teacher, data = halves
    assert_user_error(invoke("distill", "--teacher", teacher, "--data", data, "--student", "cnn", "-o", tmp_path / "a"),
                      "takes one input, but the teacher has 2", "--student mlp")
    assert_user_error(invoke("distill", "--teacher", teacher, "--data", data, "--hint", "logits", "-o", tmp_path / "b"),
                      "--hint work with one-input teachers only")
    assert_user_error(invoke("distill", "--teacher", teacher, "--data", data, "--student-arg", "hidden=abc", "-o", tmp_path / "d"),
                      "hidden='abc' is not a width or a list of widths")
    np.savez(tmp_path / "other.npz", a=np.zeros((10, 32), np.float32), b=np.zeros((10, 32), np.float32), c=np.zeros((10, 32), np.float32))
    assert_user_error(invoke("distill", "--teacher", teacher, "--data", tmp_path / "other.npz", "-o", tmp_path / "c"),
                      "holds arrays a, b, c but the teacher has inputs top, bottom")
