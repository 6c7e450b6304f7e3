"""Summary files: a sweep file without its bulky per-member spatial arrays, small enough to commit.

``trsp summarize SWEEP.h5 -o docs/results/NAME.h5`` copies everything of a sweep file
(docs/sweep-format.md: attributes, coordinates, the combined observables with their errors,
the aging group) except the per-member arrays listed in :data:`DROPPED`, the raw S_4 and block
statistics of every replica (tens of MB at L = 20).  What stays is enough to redraw every
figure (``trsp plot``) and to recombine replicas for every observable except S_4 / blocks:
``member_q_mean``, ``member_q_sq_mean`` (chi_4 from any subset of replicas, or a paired
comparison), ``member_css_product`` (C_SS), ``member_mean_S`` and the aging curves of every
quench.  The schema is the sweep file's with root attributes ``format = "trsp-summary"``,
``format_version`` (:data:`SUMMARY_VERSION`), ``source_file``, ``source_format_version``
and ``dropped`` (the names left out); docs/results/README.md documents it.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from trsp_ref.params import ParameterError
from trsp_runfile.outputs import Output, OutputSet

__all__ = ["SUMMARY_FORMAT", "SUMMARY_VERSION", "DROPPED", "summarize"]

SUMMARY_FORMAT = "trsp-summary"
SUMMARY_VERSION = "1.0"
#: per-member arrays a summary leaves out (the raw spatial statistics; shapes ... x lag x q / block)
DROPPED = ("member_shell_power", "member_block_var")


def summarize(sweep_file: str | Path, out: str | Path, *, force: bool = False) -> dict:
    """Write the summary of ``sweep_file`` to ``out`` atomically; return {out, bytes, source_bytes, dropped}."""
    import h5py

    from .results_schema import open_results  # the one reader check of sweep / summary files

    src_path, out = Path(sweep_file), Path(out)
    outputs = OutputSet([Output("--out", out)], inputs=[src_path], force=force)
    with open_results(src_path) as src:
        if src.attrs.get("format") != "trsp-sweep":
            raise ParameterError("sweep_file", "is already a summary (format 'trsp-summary'), not a sweep file", str(src_path))
        with outputs.writing() as w:
            tmp = w.path("--out", ".h5")
            with h5py.File(tmp, "w") as dst:
                for k, v in src.attrs.items():
                    dst.attrs[k] = v
                dst.attrs["format"] = SUMMARY_FORMAT
                dst.attrs["format_version"] = SUMMARY_VERSION
                dst.attrs["source_format_version"] = src.attrs.get("format_version", "")
                dst.attrs["source_file"] = src_path.name
                dst.attrs["summarized"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                dst.attrs["dropped"] = ",".join(DROPPED)
                _copy_group(src, dst)
                if "aging" in src:
                    g = dst.create_group("aging")
                    for k, v in src["aging"].attrs.items():
                        g.attrs[k] = v
                    _copy_group(src["aging"], g)
    return {"out": str(out), "bytes": out.stat().st_size, "source_bytes": src_path.stat().st_size, "dropped": list(DROPPED)}


def _scale_names(ds) -> list[str]:
    """The dimension-scale names of ``ds``'s axes (netCDF-4 style, as assemble writes them)."""
    names = []
    for axis in range(ds.ndim):
        scales = list(ds.dims[axis].values())
        names.append(scales[0].name.rsplit("/", 1)[-1] if scales else "")
    return names


def _copy_group(src, dst) -> None:
    """Copy the datasets of one group (not subgroups), scales first, then variables attached to them."""
    import h5py

    datasets = {k: v for k, v in src.items() if isinstance(v, h5py.Dataset) and k not in DROPPED}
    scales = [k for k, v in datasets.items() if v.is_scale]
    for name in scales + [k for k in datasets if k not in scales]:
        ds = datasets[name]
        data = ds[()]
        kw = {}
        if h5py.check_string_dtype(ds.dtype) is not None:
            kw["dtype"] = h5py.string_dtype("utf-8")
        elif np.asarray(data).size > 256:
            kw.update(compression="gzip", compression_opts=9, shuffle=True)
        if ds.fillvalue is not None and ds.dtype.kind == "f":
            kw["fillvalue"] = ds.fillvalue
        new = dst.create_dataset(name, data=data, **kw)
        for k, v in ds.attrs.items():
            if k in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid"):
                continue
            new.attrs[k] = v
        if ds.is_scale:
            new.make_scale(name)
        else:
            for axis, scale in enumerate(_scale_names(ds)):
                if scale:
                    new.dims[axis].attach_scale(dst[scale])
