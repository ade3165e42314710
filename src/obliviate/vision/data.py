"""Classification datasets for the vision/tabular track, and the forget/retain splits drawn from them.

Sources: scikit-learn's bundled digits (1797 images of 8×8, offline, the default), Fashion-MNIST from its IDX files
(plain or gzipped, as Debian's `dataset-fashion-mnist` installs them under /usr/share/datasets/fashion-mnist), and a
CSV file with a label column (numeric features, standardised with the training split's mean and std).
Every loader returns a `ClassData` bundle of tensors; `forget_split` picks the forget set (random or one class).
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from obliviate.errors import DataError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
# IDX type codes (third byte of the magic number) → numpy dtype; multi-byte types are big-endian.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class ClassData:
    """Train and test tensors of one classification task. x: (N, C, H, W) images or (N, F) features."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor  # (N,) int64 in [0, num_classes)
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def train(self) -> TensorDataset:
        return TensorDataset(self.x_train, self.y_train)

    def test(self) -> TensorDataset:
        return TensorDataset(self.x_test, self.y_test)

    def describe(self) -> dict:
        """What results.json records about the data (config.data)."""
        return {"name": self.name, "train": len(self.y_train), "test": len(self.y_test), "classes": list(self.classes),
                "input_shape": list(self.input_shape)}


def check_labels(y: torch.Tensor, num_classes: int, where: str = "labels") -> None:
    """Labels must be integers in [0, num_classes): raise a DataError naming the first one that is not."""
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise DataError("labels must be integer class indices (float targets are a regression task: use "
                        "obliviate.vision.regression.unlearn)", field=where, rule="integer dtype", value=str(y.dtype))
    bad = ((y < 0) | (y >= num_classes)).nonzero()
    if bad.numel():
        i = int(bad[0, 0])  # position within the tensor checked (a batch, when called from the loop)
        raise DataError(f"label outside [0, {num_classes}) (the model's number of outputs)", field=where,
                        rule=f"0 <= label < {num_classes}", value=int(y[i]))


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> ClassData:
    """scikit-learn's digits: 1797 grey 8×8 images (values 0..16, scaled to [0, 1]); stratified 80/20 split."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.long)
    tr, te = _stratified_split(d.target, test_fraction, split_seed)
    return ClassData("digits", x[tr], y[tr], x[te], y[te], tuple(str(c) for c in range(10)))


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (the MNIST container: magic 0x0000TTDD, D big-endian uint32 sizes, then the data)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: IDX file not found")
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError("not an IDX file (bad magic number)", file=path, rule="magic 0x0000TTDD", value=raw[:4].hex())
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError("IDX header truncated", file=path, rule=f"{header} header bytes", value=len(raw))
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError("IDX payload size does not match its header", file=path,
                        rule=f"{expected} bytes for shape {shape}", value=len(raw) - header)
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: neither {stem}.gz nor {stem} found (Fashion-MNIST IDX files; "
                            "Debian: apt-get install dataset-fashion-mnist)")


def load_fashion_mnist(folder: str | Path = FASHION_MNIST_DIR, train_limit: int | None = None,
                       test_limit: int | None = None, seed: int = 0) -> ClassData:
    """Fashion-MNIST from its four IDX files; pixels scaled to [0, 1]. `*_limit` keep a stratified subsample."""
    folder = Path(folder)
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError("images (N, H, W) and labels (N,) must agree", file=folder, field=split,
                            value=(images.shape, labels.shape))
        parts[split] = (images, labels.astype(np.int64))
    out = []
    for (images, labels), limit in ((parts["train"], train_limit), (parts["test"], test_limit)):
        if limit is not None and limit < len(labels):
            keep, _ = _stratified_split(labels, 1.0 - limit / len(labels), seed)
            images, labels = images[keep], labels[keep]
        x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255.0  # (N, 1, 28, 28)
        y = torch.tensor(labels, dtype=torch.long)
        check_labels(y, 10, where="label")
        out += [x, y]
    return ClassData("fashion-mnist", *out, FASHION_MNIST_CLASSES)


def load_csv(path: str | Path, label: str, test_fraction: float = 0.2, split_seed: int = 0) -> ClassData:
    """A tabular CSV: column `label` is the class (any values, mapped to 0..K-1 in sorted order), the rest
    numeric features. Features are standardised with the training split's mean and std."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: CSV file not found")
    df = pd.read_csv(path)
    if label not in df.columns:
        raise DataError(f"label column not found; columns: {', '.join(map(str, df.columns))}", file=path,
                        field=label, rule="--label names a column")
    if len(df) == 0:
        raise DataError("no rows", file=path)
    feats = df.drop(columns=[label])
    for col in feats.columns:
        if not pd.api.types.is_numeric_dtype(feats[col]):
            raise DataError("feature columns must be numeric", file=path, field=str(col), rule="numeric",
                            value=str(feats[col].iloc[0]))
    for col in list(feats.columns) + [label]:
        missing = df[col].isna().to_numpy().nonzero()[0]
        if missing.size:  # line = CSV line number (header is line 1)
            raise DataError("missing value", file=path, line=int(missing[0]) + 2, field=str(col), rule="no NaN")
    classes, y = np.unique(df[label].to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise DataError("need at least two classes", file=path, field=label, value=[str(c) for c in classes])
    x = feats.to_numpy(dtype=np.float32)
    tr, te = _stratified_split(y, test_fraction, split_seed)
    mean, std = x[tr].mean(0), x[tr].std(0)
    x = (x - mean) / np.where(std > 0, std, 1.0)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    return ClassData(path.stem, xt[tr], yt[tr], xt[te], yt[te], tuple(str(c) for c in classes))


def load(kind: str, path: str | Path | None = None, label: str | None = None, **kw) -> ClassData:
    """Dispatch on `--data`: digits | fashion-mnist | csv."""
    if kind == "digits":
        return load_digits()
    if kind == "fashion-mnist":
        return load_fashion_mnist(path or FASHION_MNIST_DIR, **kw)
    if kind == "csv":
        if path is None or label is None:
            raise DataError("--data csv needs --path FILE and --label COLUMN", field="data", value=kind)
        return load_csv(path, label)
    raise DataError("unknown dataset", field="data", rule="digits | fashion-mnist | csv", value=kind)


@dataclass(frozen=True)
class ForgetSpec:
    """A forget set as the command line names it (`--forget`): `random:FRACTION[:SEED]`, a seeded uniform draw of
    that fraction of the training samples (seed 0 unless given), or `class:K`, every training sample of class K.
    The spec, not a file, is what train (oracle), unlearn and eval share, so `str(spec)` is recorded in run.json."""

    scenario: str  # random | class
    fraction: float = 0.1
    forget_class: int = 0
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> ForgetSpec:
        kind, _, rest = str(text).partition(":")
        parts = rest.split(":") if rest else []
        try:
            if kind == "random" and 1 <= len(parts) <= 2:
                return cls("random", fraction=float(parts[0]), seed=int(parts[1]) if len(parts) == 2 else 0)
            if kind == "class" and len(parts) == 1:
                return cls("class", forget_class=int(parts[0]))
        except ValueError:
            pass
        raise DataError("bad forget set: expected random:FRACTION[:SEED] or class:K", field="forget",
                        rule="random:FRACTION[:SEED] | class:K", value=text)

    def __str__(self) -> str:
        return f"random:{self.fraction:g}:{self.seed}" if self.scenario == "random" else f"class:{self.forget_class}"

    def split(self, data: ClassData) -> tuple[torch.Tensor, torch.Tensor]:
        """(forget_idx, retain_idx) into `data`'s training set."""
        return forget_split(data.y_train, self.scenario, data.num_classes, self.fraction, self.forget_class, self.seed)


def forget_split(y: torch.Tensor, scenario: str, num_classes: int, fraction: float = 0.1,
                 forget_class: int = 0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(forget_idx, retain_idx) into the training set.

    random: a seeded uniform draw of round(fraction·N) samples; class: every sample of `forget_class`.
    """
    n = len(y)
    if scenario == "random":
        if not 0.0 < fraction < 1.0:
            raise DataError("forget fraction must be in (0, 1)", field="fraction", value=fraction)
        k = round(fraction * n)
        if k == 0:
            raise DataError("the forget set is empty", field="fraction", rule="round(fraction·N) >= 1",
                            value=fraction)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        forget = perm[:k].sort().values
    elif scenario == "class":
        if not 0 <= forget_class < num_classes:
            raise DataError("forget class outside the label range", field="forget_class",
                            rule=f"0 <= class < {num_classes}", value=forget_class)
        forget = (y == forget_class).nonzero().flatten()
        if forget.numel() == 0:
            raise DataError("the forget class has no training samples", field="forget_class", value=forget_class)
    else:
        raise DataError("unknown forgetting scenario", field="scenario", rule="random | class", value=scenario)
    keep = torch.ones(n, dtype=torch.bool)
    keep[forget] = False
    return forget, keep.nonzero().flatten()
