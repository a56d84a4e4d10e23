"""empirical.data: CIFAR layouts, download with checksum, safe unpickling, noise side by side."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
import urllib.error
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from empirical import data as D
from empirical.safe_pickle import UnsafePickleError, load_torch_zip, loads
from theory import noise as tnoise

torch = pytest.importorskip("torch")


def _write_cifar10(root, per_batch=20, n_test=20, seed=0):
    """A tiny CIFAR-10 in the standard python layout (python-2-style pickles, byte keys)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        y = [int(v) for v in np.arange(n) % 10]
        (folder / name).write_bytes(pickle.dumps({b"data": x, b"labels": y, b"batch_label": b"x"}, protocol=2))
        xs.append(x)
        ys.append(y)
    return xs, ys


def _write_cifar100(root, n=30):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name in ("train", "test"):
        x = np.zeros((n, 3072), dtype=np.uint8)
        (folder / name).write_bytes(pickle.dumps({b"data": x, b"fine_labels": list(np.arange(n) % 100),
                                                  b"coarse_labels": [0] * n}, protocol=2))


def test_cifar10_layout_is_read_in_order_with_hwc_pixels(tmp_path):
    xs, ys = _write_cifar10(tmp_path)
    d = D.load_images("cifar10", tmp_path, download_missing=False)
    assert d.train_x.shape == (100, 32, 32, 3) and d.test_x.shape == (20, 32, 32, 3)
    assert d.num_classes == 10 and d.train_y.dtype == np.int64
    np.testing.assert_array_equal(d.train_y, np.concatenate(ys[:5]))
    # pixel (row 3, col 5, channel 2) of image 21 is byte 2*1024 + 3*32 + 5 of its row (CHW order)
    assert d.train_x[21, 3, 5, 2] == xs[1][1, 2 * 1024 + 3 * 32 + 5]
    # the batch files themselves as data_dir work too
    again = D.load_images("cifar10", tmp_path / "cifar-10-batches-py", download_missing=False)
    np.testing.assert_array_equal(again.test_x, d.test_x)


def test_cifar100_reads_fine_labels(tmp_path):
    _write_cifar100(tmp_path)
    d = D.load_images("cifar100", tmp_path, download_missing=False)
    assert d.num_classes == 100 and d.train_y.max() == 29


def test_missing_data_without_download_says_where_to_put_it(tmp_path):
    with pytest.raises(D.DataNotFoundError, match=r"cifar-10-batches-py.*cs\.toronto\.edu.*c58f3010"):
        D.load_images("cifar10", tmp_path, download_missing=False)


def test_train_per_class_keeps_first_members_in_order(tmp_path):
    _write_cifar10(tmp_path)
    full = D.load_images("cifar10", tmp_path, download_missing=False)
    sub = D.load_images("cifar10", tmp_path, download_missing=False, train_per_class=3)
    assert np.bincount(sub.train_y).tolist() == [3] * 10
    first = np.sort(np.concatenate([np.flatnonzero(full.train_y == c)[:3] for c in range(10)]))
    np.testing.assert_array_equal(sub.train_x, full.train_x[first])
    with pytest.raises(ValueError, match="train_per_class must be a positive integer"):
        D.load_images("cifar10", tmp_path, download_missing=False, train_per_class=0)


def test_bad_batch_file_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps({b"nothing": 1}, protocol=2))
    with pytest.raises(ValueError, match="test_batch is not a CIFAR python batch"):
        D.load_images("cifar10", tmp_path, download_missing=False)


# ----------------------------------------------------------------------------------------------
# Download


@pytest.fixture
def archive(tmp_path):
    """A tiny cifar-10-python.tar.gz and a fake urlopen serving it."""
    src = tmp_path / "src"
    _write_cifar10(src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return buf.getvalue()


def _serve(payload):
    def fake(url, timeout):
        return io.BytesIO(payload)
    return fake


def test_download_verifies_checksum_and_extracts_atomically(tmp_path, archive, monkeypatch):
    monkeypatch.setattr(D, "_urlopen", _serve(archive))
    monkeypatch.setitem(D.SOURCES, "cifar10", D.SOURCES["cifar10"].__class__(
        **{**D.SOURCES["cifar10"].__dict__, "md5": hashlib.md5(archive).hexdigest()}))
    root = tmp_path / "data"
    d = D.load_images("cifar10", root)  # missing, so downloaded
    assert d.train_x.shape == (100, 32, 32, 3)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]  # no temporary leftovers


def test_download_with_wrong_checksum_extracts_nothing(tmp_path, archive, monkeypatch):
    monkeypatch.setattr(D, "_urlopen", _serve(archive))
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="checksum mismatch.*expected c58f3010"):
        D.download("cifar10", root)
    assert list(root.iterdir()) == []


def test_download_without_network_is_a_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(D, "_urlopen", offline)
    with pytest.raises(D.DataNotFoundError, match=r"Downloading it failed.*no route to host.*extract it into") as err:
        D.load_images("cifar10", tmp_path / "data")
    # the download was tried: the message does not ask for it again, nor to drop a flag never passed
    assert "no-download" not in str(err.value) and "download_missing" not in str(err.value)


def test_absent_data_with_downloads_off_says_how_to_turn_them_on(tmp_path):
    with pytest.raises(D.DataNotFoundError, match=r"leave out --no-download"):
        D.load_images("cifar10", tmp_path / "data", download_missing=False)


def test_archive_member_escaping_the_folder_is_refused(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    payload = buf.getvalue()
    monkeypatch.setattr(D, "_urlopen", _serve(payload))
    monkeypatch.setitem(D.SOURCES, "cifar10", D.SOURCES["cifar10"].__class__(
        **{**D.SOURCES["cifar10"].__dict__, "md5": hashlib.md5(payload).hexdigest()}))
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="refusing archive member '../evil.txt'"):
        D.download("cifar10", root)
    assert not (tmp_path / "evil.txt").exists() and list(root.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# Restricted unpickling


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"clean_label": _Exploit(marker)}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"refusing to load global (posix|os|nt)\.system"):
        loads(payload)
    assert not marker.exists()


def test_malicious_torch_zip_label_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "CIFAR-10_human.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("CIFAR-10_human/data.pkl", pickle.dumps({"clean_label": _Exploit(marker)}, protocol=2))
        z.writestr("CIFAR-10_human/version", "3\n")
    with pytest.raises(UnsafePickleError):
        load_torch_zip(path)
    assert not marker.exists()


def test_torch_saved_numpy_payload_round_trips(tmp_path):
    payload = {"clean_label": np.arange(7, dtype=np.int64), "worse_label": np.arange(7)[::-1].copy()}
    path = tmp_path / "labels.pt"
    torch.save(payload, path)
    back = load_torch_zip(path)
    assert set(back) == set(payload)
    for k in payload:
        np.testing.assert_array_equal(back[k], payload[k])


def test_torch_tensors_are_refused_as_not_numpy(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save({"x": torch.arange(3)}, path)
    with pytest.raises(UnsafePickleError):
        load_torch_zip(path)


def test_non_zip_label_file_is_a_clear_error(tmp_path):
    path = tmp_path / "labels.pt"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a torch zip-format file"):
        load_torch_zip(path)


# ----------------------------------------------------------------------------------------------
# Noise


@given(kind=st.sampled_from(["symmetric", "asymmetric", "instance"]),
       rate=st.sampled_from([0.2, 0.4, 0.6]), reference=st.booleans())
def test_noise_spec_round_trips(kind, rate, reference):
    reference = reference and kind == "asymmetric"
    spec = D.NoiseSpec(kind, rate, reference=reference)
    assert D.NoiseSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text, match", [
    ("symmetric", "bad noise setting"), ("symmetric:1.2", r"rate must be a number in \[0, 1\)"),
    ("gaussian:0.2", "bad noise setting"), ("instance:0.3", "rates"), ("clean:0.2", "bad noise setting"),
    ("human", "bad noise setting"), ("symmetric:0.2:reference", "bad noise setting"),
])
def test_bad_noise_settings_are_rejected(text, match):
    with pytest.raises(ValueError, match=match):
        D.NoiseSpec.parse(text)


@pytest.mark.slow
@given(rate=st.sampled_from([0.0, 0.2, 0.4, 0.8]), seed=st.integers(0, 2**31))
def test_symmetric_noise_keeps_clean_labels_beside_noisy_and_hits_the_rate(rate, seed):
    data = D.load_noisy("synthetic", f"symmetric:{rate}", seed=seed)
    y = data.train_clean
    assert np.array_equal(y, D.synthetic().train_y)  # clean labels untouched
    for c in range(10):
        flips = (data.train_noisy != y)[y == c].sum()
        assert flips == int(np.floor(rate * (y == c).sum() + 1e-9))


def test_asymmetric_noise_uses_theory_both_conventions():
    y = np.repeat(np.arange(10), 50)
    for reference in (False, True):
        spec = D.NoiseSpec("asymmetric", 0.4, reference=reference)
        got = D.apply_noise(y, 10, "cifar10", spec, seed=3)
        want = tnoise.flip_pairs(y, tnoise.CIFAR10_PAIRS, 0.4, seed=3, reference_sequential=reference)
        np.testing.assert_array_equal(got, want)
    y100 = np.repeat(np.arange(100), 10)
    got = D.apply_noise(y100, 100, "cifar100", "asymmetric:0.2", seed=1)
    assert np.all((got == y100) | (got == (y100 // 5) * 5 + (y100 % 5 + 1) % 5))


def test_label_files_instance_and_human(tmp_path):
    y = np.arange(50) % 10
    noisy = (y + 1) % 10
    (tmp_path / "instance-dependent").mkdir()
    (tmp_path / "instance-dependent" / "cifar10_dependent_0.4.json").write_text(json.dumps(noisy.tolist()))
    got = D.apply_noise(y, 10, "cifar10", "instance:0.4", seed=0, label_dir=tmp_path)
    np.testing.assert_array_equal(got, noisy)

    torch.save({"clean_label": y, "worse_label": noisy, "aggre_label": y}, tmp_path / "CIFAR-10_human.pt")
    np.testing.assert_array_equal(D.apply_noise(y, 10, "cifar10", "human:worst", seed=0, label_dir=tmp_path), noisy)
    with pytest.raises(ValueError, match="clean_label does not match"):
        D.apply_noise(np.roll(y, 1), 10, "cifar10", "human:worst", seed=0, label_dir=tmp_path)
    with pytest.raises(ValueError, match="human label sets are"):
        D.apply_noise(y, 10, "cifar10", "human:noisy", seed=0, label_dir=tmp_path)
    with pytest.raises(D.DataNotFoundError, match="cifar10_dependent_0.2.json not found"):
        D.apply_noise(y, 10, "cifar10", "instance:0.2", seed=0, label_dir=tmp_path)
    with pytest.raises(ValueError, match="50 labels for 40 training images"):
        D.apply_noise(y[:40], 10, "cifar10", "instance:0.4", seed=0, label_dir=tmp_path)


# ----------------------------------------------------------------------------------------------
# The shared copies (skipped when ../shared/data is absent)


@pytest.mark.data
def test_shared_cifar10n_files_read_safely_and_match_the_clean_labels(shared_data):
    payload = load_torch_zip(shared_data / "cifar-n" / "CIFAR-10_human.pt")
    npz = np.load(shared_data / "cifar10" / "cifar10_jpeg.npz")
    np.testing.assert_array_equal(payload["clean_label"], npz["train_labels"])
    rates = {k: tnoise.actual_rate(payload["clean_label"], payload[k]) for k in D.HUMAN_KEYS["cifar10"].values()}
    # the label sets are ordered by noise as their names say: aggregate < random < worst
    assert rates["aggre_label"] < min(rates[f"random_label{i}"] for i in (1, 2, 3)) < rates["worse_label"]
    c100 = load_torch_zip(shared_data / "cifar-n" / "CIFAR-100_human.pt")
    assert c100["noisy_label"].shape == (50000,) and c100["clean_label"].max() == 99


@pytest.mark.data
def test_shared_instance_files_have_their_nominal_rate(shared_data):
    npz = np.load(shared_data / "cifar10" / "cifar10_jpeg.npz")
    for rate in D.INSTANCE_RATES:
        noisy = D.apply_noise(npz["train_labels"].astype(np.int64), 10, "cifar10", D.NoiseSpec("instance", rate),
                              seed=0, label_dir=shared_data)
        assert abs(tnoise.actual_rate(npz["train_labels"], noisy) - rate) < 1e-9
