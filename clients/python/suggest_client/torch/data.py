"""Data for the trainer: scikit-learn's digits, or the caller's CSV or .npz, split and standardized.

The split is train / validation / test (60/20/20, stratified when every class allows it), fixed by
one seed for the whole study, so trials differ only by their params. The service is told the
validation metric; the test split is only measured at the end of each trial, so tuning never sees
it. Features are standardized with the training split's mean and deviation alone: statistics from
validation or test rows would leak them into training.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import train_test_split

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Fractions of the rows in the validation and test splits; the rest trains.
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Splits:
    """Standardized features (float32) and class indices (int64, 0 … n_classes-1) of each split."""

    x_train: FloatArray
    y_train: IntArray
    x_val: FloatArray
    y_val: IntArray
    x_test: FloatArray
    y_test: IntArray
    #: The original label of each class index.
    classes: tuple[Any, ...]
    #: Where the data came from ("digits" or the file's path), for logs and summaries.
    source: str = ""

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load_digits_splits(seed: int = 0) -> Splits:
    """scikit-learn's bundled 8×8 digits (1,797 rows, 64 features, 10 classes); no download."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return split(np.asarray(digits.data), np.asarray(digits.target), seed=seed, source="digits")


def load_data(path: str | Path, *, label_column: str | None = None, seed: int = 0) -> Splits:
    """A CSV (label in the last column, or the column named `label_column`; a header row is
    allowed) or an .npz (arrays `x` or `X`, and `y` or `Y`), split with `seed`."""
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"data file {source} does not exist")
    if source.suffix.lower() == ".npz":
        if label_column is not None:
            raise ValueError("--label-column applies to CSV files; an .npz holds the labels in its array y")
        x, y = _read_npz(source)
    else:
        x, y = _read_csv(source, label_column)
    return split(x, y, seed=seed, source=str(source))


def split(x: npt.ArrayLike, y: npt.ArrayLike, *, seed: int = 0, source: str = "") -> Splits:
    """Split rows 60/20/20 (stratified when each class has enough rows) and standardize them."""
    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y)
    if features.ndim == 1 or features.shape[0] == 0:
        raise ValueError(f"the features must be a 2-D array with a row per example, not shape {features.shape}")
    features = features.reshape(features.shape[0], -1)  # images and such: one flat row each
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"{features.shape[0]} rows of features but labels of shape {labels.shape}: "
                         "give one label per row")
    if not np.isfinite(features).all():
        raise ValueError("the features hold NaN or infinite values; clean or impute them first")
    classes, targets = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"the labels hold {len(classes)} class; classification needs at least 2")
    if features.shape[0] < 10:
        raise ValueError(f"only {features.shape[0]} rows: too few to split into train, validation and test")
    indices = np.arange(features.shape[0])
    train, rest = _split(indices, targets, VAL_FRACTION + TEST_FRACTION, seed)
    val, test = _split(rest, targets, TEST_FRACTION / (VAL_FRACTION + TEST_FRACTION), seed)
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0)
    std[std == 0] = 1.0  # a constant feature stays 0 rather than dividing by zero

    def scaled(rows: npt.NDArray[np.intp]) -> FloatArray:
        return np.asarray((features[rows] - mean) / std, dtype=np.float32)

    def labelled(rows: npt.NDArray[np.intp]) -> IntArray:
        return targets[rows].astype(np.int64)

    return Splits(scaled(train), labelled(train), scaled(val), labelled(val), scaled(test), labelled(test),
                  classes=tuple(c.item() if hasattr(c, "item") else c for c in classes), source=source)


def _split(indices: npt.NDArray[np.intp], targets: npt.NDArray[np.intp], fraction: float,
           seed: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Stratified when possible; a class too small to reach both sides makes it a plain shuffle."""
    try:
        kept, held = train_test_split(indices, test_size=fraction, random_state=seed, stratify=targets[indices])
    except ValueError:
        kept, held = train_test_split(indices, test_size=fraction, random_state=seed)
    return np.asarray(kept), np.asarray(held)


def _read_npz(path: Path) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    with np.load(path, allow_pickle=False) as archive:
        names = set(archive.files)
        x_name = next((n for n in ("x", "X") if n in names), None)
        y_name = next((n for n in ("y", "Y") if n in names), None)
        if x_name is None or y_name is None:
            raise ValueError(f"{path} holds arrays {sorted(names)}; it needs the features as x (or X) "
                             "and the labels as y (or Y)")
        return np.asarray(archive[x_name]), np.asarray(archive[y_name])


def _read_csv(path: Path, label_column: str | None) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path} holds no rows")
    header: list[str] | None = None
    # A header is a first row with words where the features go (labels themselves may be words).
    if not all(_is_number(cell) for cell in (rows[0][:-1] if label_column is None else rows[0])):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    width = len(header) if header is not None else len(rows[0])
    column = _label_index(header, width, label_column, path)
    features: list[list[float]] = []
    labels: list[str] = []
    for line, row in enumerate(rows, start=2 if header is not None else 1):
        if len(row) != width:
            raise ValueError(f"{path}, line {line}: {len(row)} columns, but the first row has {width}")
        try:
            features.append([float(cell) for i, cell in enumerate(row) if i != column])
        except ValueError as error:
            raise ValueError(f"{path}, line {line}: every column but the label must be a number ({error})") from error
        labels.append(row[column].strip())
    if not features:
        raise ValueError(f"{path} holds a header but no data rows")
    y: npt.NDArray[Any] = np.asarray(labels)
    if all(_is_number(label) for label in labels):
        y = np.asarray([float(label) for label in labels])  # so "10" sorts after "9"
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    return np.asarray(features, dtype=np.float64), y


def _label_index(header: list[str] | None, width: int, label_column: str | None, path: Path) -> int:
    if label_column is None:
        return width - 1
    if header is not None:
        if label_column not in header:
            raise ValueError(f"{path} has no column named {label_column!r}; its header names {header}")
        return header.index(label_column)
    raise ValueError(f"--label-column {label_column!r} names a column, but {path} has no header row")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
