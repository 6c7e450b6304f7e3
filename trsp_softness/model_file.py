"""The softness model file (HDF5, format ``trsp-softness-model``; docs/formats-softness-model.md).

Everything `trsp softness apply` needs to reproduce S = w0 + w . g on another trajectory: the
structure-function definitions, the standardisation, the hyperplane, the system it was trained
on (dimension, type names, trained types, position kind, p_hop window), and the provenance of
the training (thresholds, windows, example counts, accuracies, source trajectories).  Written
atomically; every problem reading one is a :class:`ModelFileError` (one line, exit 2).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from trsp_runfile.atomic import atomic_path
from trsp_runfile.runfile import LabelledFileError, hdf5_file_problem
from trsp_softness.classifier import LinearSoftness
from trsp_softness.definitions import StructureFunctionSet

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "SoftnessModel", "read_model", "write_model"]

FORMAT = "trsp-softness-model"
FORMAT_VERSION = "1.1"
_STR = h5py.string_dtype("utf-8")


class ModelFileError(LabelledFileError):
    """A softness model file that cannot be used, with what is wrong and where."""

    label = "softness model"


@dataclass
class SoftnessModel:
    """A trained softness model.

    structure: the features; svm: the hyperplane; dim; trained_types (names); positions
    ("inherent" | "thermal": what p_hop and the structure functions were computed on);
    p_hop_window (t_R); frame_interval; temperature (training, NaN if unknown); training: dict of
    provenance (thresholds, windows, counts, sources); created; path (when read)."""

    structure: StructureFunctionSet
    svm: LinearSoftness
    dim: int
    trained_types: tuple[str, ...]
    positions: str
    p_hop_window: float
    frame_interval: float
    temperature: float = float("nan")
    training: dict = field(default_factory=dict)
    created: str = ""
    path: str = "<memory>"

    def softness(self, g: np.ndarray) -> np.ndarray:
        return self.svm.softness(g)

    def describe(self) -> str:
        return (f"{self.dim}D, types {list(self.structure.type_names)}, trained on {list(self.trained_types)}, "
                f"{self.structure.n_features} structure functions")


def _attr(h5, path, key, where="/"):
    obj = h5[where] if where != "/" else h5
    if key not in obj.attrs:
        raise ModelFileError(path, "missing required attribute", f"{where.rstrip('/')}/@{key}")
    v = obj.attrs[key]
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    return v


def _strings(v) -> tuple[str, ...]:
    return tuple(x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in np.atleast_1d(v))


def _data(h5, path, name) -> np.ndarray:
    if name not in h5 or not isinstance(h5[name], h5py.Dataset):
        raise ModelFileError(path, "missing required dataset", name)
    return h5[name][()]


def write_model(model: SoftnessModel, path: str | os.PathLike) -> None:
    """Write ``model`` atomically (the file appears complete or not at all)."""
    path = Path(path)
    fs = model.structure
    svm = model.svm
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            a = h5.attrs
            a["format"] = FORMAT
            a["format_version"] = FORMAT_VERSION
            a["created"] = model.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["dim"] = int(model.dim)
            a["type_names"] = np.array(fs.type_names, dtype=_STR)
            a["trained_types"] = np.array(model.trained_types, dtype=_STR)
            a["positions"] = model.positions
            a["p_hop_window"] = float(model.p_hop_window)
            a["frame_interval"] = float(model.frame_interval)
            a["temperature"] = float(model.temperature)
            g = h5.create_group("structure")
            g.attrs["sigma"] = float(fs.sigma)
            g.attrs["sigma_max"] = float(fs.sigma_max)
            g.create_dataset("mu", data=fs.mu)
            g.create_dataset("angular", data=fs.angular)
            g.create_dataset("feature_names", data=np.array(fs.names(), dtype=_STR))
            g = h5.create_group("standardisation")
            g.create_dataset("mean", data=svm.mean)
            g.create_dataset("scale", data=svm.scale)
            g.create_dataset("used", data=svm.used.astype(np.int8))
            g.attrs["min_spread"] = float(svm.min_spread)
            g = h5.create_group("svm")
            g.create_dataset("v", data=svm.v)
            g.attrs["b"] = float(svm.b)
            g.attrs["C"] = float(svm.C)
            g.attrs["cv_C"] = np.array(list(svm.cv_accuracy.keys()), dtype=np.float64)
            g.attrs["cv_accuracy"] = np.array(list(svm.cv_accuracy.values()), dtype=np.float64)
            g.attrs["test_accuracy"] = float(svm.test_accuracy)
            g.attrs["train_accuracy"] = float(svm.train_accuracy)
            g.attrs["n_train"] = np.array(svm.n_train, dtype=np.int64)
            g.attrs["n_test"] = np.array(svm.n_test, dtype=np.int64)
            g.attrs["converged"] = int(bool(svm.converged))
            g = h5.create_group("softness")
            g.create_dataset("weights", data=svm.weights)
            g.attrs["w0"] = svm.w0
            g = h5.create_group("training")
            for k, v in model.training.items():
                if isinstance(v, (list, tuple)) and v and isinstance(v[0], str):
                    g.attrs[k] = np.array(v, dtype=_STR)
                elif isinstance(v, str):
                    g.attrs[k] = v
                elif v is None:
                    g.attrs[k] = np.nan
                else:
                    g.attrs[k] = v


def read_model(path: str | os.PathLike) -> SoftnessModel:
    """Read and check a model file."""
    path = Path(path)
    problem = hdf5_file_problem(path, "a softness model file")
    if problem is not None:
        raise ModelFileError(path, problem)
    with h5py.File(path, "r") as h5:
        fmt = _attr(h5, path, "format")
        if fmt != FORMAT:
            raise ModelFileError(path, f"is not a softness model (format is {fmt!r}, expected {FORMAT!r})", "/@format")
        version = str(_attr(h5, path, "format_version"))
        if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
            raise ModelFileError(path, f"format version {version} is not supported (this reader: {FORMAT_VERSION})", "/@format_version")
        for grp in ("structure", "standardisation", "svm", "softness"):
            if grp not in h5:
                raise ModelFileError(path, "missing required group", f"/{grp}")
        try:
            fs = StructureFunctionSet(type_names=_strings(_attr(h5, path, "type_names")), mu=_data(h5, path, "/structure/mu"),
                                      sigma=float(_attr(h5, path, "sigma", "/structure")),
                                      sigma_max=float(_attr(h5, path, "sigma_max", "/structure")),
                                      angular=_data(h5, path, "/structure/angular"))
        except ValueError as exc:  # ParameterError from the definitions
            raise ModelFileError(path, str(exc), "/structure") from None
        M = fs.n_features
        arrays = {}
        for name in ("/standardisation/mean", "/standardisation/scale", "/svm/v"):
            arr = np.asarray(_data(h5, path, name), dtype=np.float64)
            if arr.shape != (M,) or not np.all(np.isfinite(arr)):
                raise ModelFileError(path, f"must hold {M} finite values (one per structure function), got shape {arr.shape}", name)
            arrays[name] = arr
        if np.any(arrays["/standardisation/scale"] <= 0):
            raise ModelFileError(path, "scales must be > 0", "/standardisation/scale")
        used = None  # format 1.0: every feature
        if "used" in h5["standardisation"]:
            used = np.asarray(_data(h5, path, "/standardisation/used"))
            if used.shape != (M,) or not np.all((used == 0) | (used == 1)):
                raise ModelFileError(path, f"must hold {M} flags 0/1 (one per structure function), got shape {used.shape}",
                                     "/standardisation/used")
            used = used.astype(bool)
            if np.any(arrays["/svm/v"][~used] != 0):
                raise ModelFileError(path, "must be 0 for every feature that /standardisation/used marks unused", "/svm/v")
        min_spread = float(h5["standardisation"].attrs.get("min_spread", float("nan")))
        svm_attrs = h5["svm"].attrs
        cv = dict(zip(np.atleast_1d(svm_attrs.get("cv_C", [])).tolist(), np.atleast_1d(svm_attrs.get("cv_accuracy", [])).tolist()))
        svm = LinearSoftness(mean=arrays["/standardisation/mean"], scale=arrays["/standardisation/scale"], v=arrays["/svm/v"],
                             b=float(_attr(h5, path, "b", "/svm")), used=used, min_spread=min_spread, C=float(svm_attrs.get("C", float("nan"))), cv_accuracy=cv,
                             test_accuracy=float(svm_attrs.get("test_accuracy", float("nan"))),
                             train_accuracy=float(svm_attrs.get("train_accuracy", float("nan"))),
                             n_train=tuple(int(x) for x in np.atleast_1d(svm_attrs.get("n_train", [0, 0]))),
                             n_test=tuple(int(x) for x in np.atleast_1d(svm_attrs.get("n_test", [0, 0]))),
                             converged=bool(svm_attrs.get("converged", 1)))
        if not math.isfinite(svm.b):
            raise ModelFileError(path, "must be finite", "/svm/@b")
        dim = int(_attr(h5, path, "dim"))
        if dim not in (2, 3):
            raise ModelFileError(path, f"must be 2 or 3, got {dim}", "/@dim")
        trained = _strings(_attr(h5, path, "trained_types"))
        unknown = [t for t in trained if t not in fs.type_names]
        if not trained or unknown:
            raise ModelFileError(path, f"trained types {list(trained)} must be among the type names {list(fs.type_names)}", "/@trained_types")
        positions = str(_attr(h5, path, "positions"))
        if positions not in ("inherent", "thermal"):
            raise ModelFileError(path, f"must be 'inherent' or 'thermal', got {positions!r}", "/@positions")
        training = {}
        if "training" in h5:
            for k, v in h5["training"].attrs.items():
                if isinstance(v, np.ndarray) and v.dtype.kind in "OS":
                    v = list(_strings(v))
                elif isinstance(v, bytes):
                    v = v.decode("utf-8")
                elif isinstance(v, np.ndarray) and v.shape == ():
                    v = v[()]
                training[k] = v.tolist() if isinstance(v, np.ndarray) else v
        return SoftnessModel(structure=fs, svm=svm, dim=dim, trained_types=trained, positions=positions,
                             p_hop_window=float(_attr(h5, path, "p_hop_window")),
                             frame_interval=float(_attr(h5, path, "frame_interval")),
                             temperature=float(h5.attrs.get("temperature", float("nan"))), training=training,
                             created=str(h5.attrs.get("created", "")), path=str(path))
