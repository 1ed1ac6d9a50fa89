"""Built-in data, .npz loading, reshaping to the teacher input, and the teacher-output cache."""

import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgedistill.cache import teacher_outputs
from edgedistill.data import fit_to_input, load_dataset
from edgedistill.errors import EdgeDistillError
from edgedistill.teacher import OnnxTeacher


def test_builtin_digits_has_a_fixed_split_and_scaled_inputs():
    ds = load_dataset("builtin:digits")
    assert ds.x.shape == (1797, 64) and ds.y.shape == (1797,)
    counts = [int(np.sum(ds.split == k)) for k in (0, 1, 2)]
    assert counts == [1259, 179, 359]
    x, y = ds.part("test")
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert sorted(np.unique(y)) == list(range(10))
    # The split is stored, so a second load gives the same rows.
    assert np.array_equal(load_dataset("builtin:digits").split, ds.split)


def test_fit_to_input_reshapes_when_counts_agree_and_refuses_otherwise():
    x = np.zeros((5, 64), np.float32)
    assert fit_to_input(x, (None, 1, 8, 8), np.dtype(np.float32)).shape == (5, 1, 8, 8)
    with pytest.raises(EdgeDistillError, match=r"64 values.*expects \[batch, 1, 9, 9\] \(81 values"):
        fit_to_input(x, (None, 1, 9, 9), np.dtype(np.float32))


def test_npz_without_split_gets_a_deterministic_stratified_split(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((100, 64)).astype(np.float32), y=np.repeat(np.arange(10), 10))
    a, b = load_dataset(str(tmp_path / "d.npz")), load_dataset(str(tmp_path / "d.npz"))
    assert np.array_equal(a.split, b.split)
    assert [int(np.sum(a.split == k)) for k in (0, 1, 2)] == [70, 10, 20]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"inputs": np.zeros((3, 2))}, "no array 'x'"),
        ({"x": np.zeros((0, 4))}, "'x' is empty"),
        ({"x": np.array([[1.0, np.nan]])}, "NaN or Inf"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(4, np.int64)}, "one integer label per row"),
        ({"x": np.zeros((3, 2)), "y": np.array([0, -1, 1])}, "negative labels"),
    ],
)
def test_bad_npz_files_are_clear_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(EdgeDistillError, match=message):
        load_dataset(str(tmp_path / "bad.npz"))


def test_cache_hits_on_second_run_and_is_invalidated_when_the_teacher_changes(teacher, tmp_path):
    x = fit_to_input(load_dataset("builtin:digits").part("val")[0], (None, 1, 8, 8), np.dtype(np.float32))
    t = OnnxTeacher(teacher)
    first, hit1 = teacher_outputs(t, x, cache_dir=tmp_path / "c", progress=False)
    second, hit2 = teacher_outputs(t, x, cache_dir=tmp_path / "c", progress=False)
    assert (hit1, hit2) == (False, True)
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert len(list((tmp_path / "c").glob("*.npy"))) == 1
    assert not list((tmp_path / "c").glob("*.tmp*")), "no temporary file may be left behind"

    # A teacher with one changed weight is a different teacher: the cache must miss.
    changed = tmp_path / "teacher2.onnx"
    model = onnx.load(str(teacher))
    init = max(model.graph.initializer, key=lambda i: np.prod(i.dims))
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 1.0
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(changed))
    third, hit3 = teacher_outputs(OnnxTeacher(changed), x, cache_dir=tmp_path / "c", progress=False)
    assert hit3 is False
    assert len(list((tmp_path / "c").glob("*.npy"))) == 2

    # Different inputs (another split) also miss.
    _, hit4 = teacher_outputs(t, x[:10], cache_dir=tmp_path / "c", progress=False)
    assert hit4 is False


def test_teacher_signature_and_kind(teacher, tmp_path):
    t = OnnxTeacher(teacher)
    assert (t.input.name, t.input.shape, t.output.name) == ("image", (None, 1, 8, 8), "logits")
    assert t.output_kind == "logits" and t.num_outputs == 10
    shutil.copy(teacher, tmp_path / "copy.onnx")
    assert OnnxTeacher(tmp_path / "copy.onnx").sha256 == t.sha256
