"""Write a valid trsp run file (docs/formats.md) from another implementation's data.

Plain numpy + h5py, no trsp import: this is all another TRSP implementation (in any
language with an HDF5 library) has to produce for ``trsp verify RUN.h5`` to read it.
The trajectory below is made up (a toy kick that touches the fired site and its two
neighbours in index order); replace it by your simulator's events.

    python3 examples/write_runfile_numpy.py out.h5
    python3 -c "from trsp_runfile.runfile import RunFile; r = RunFile.open('out.h5'); r.check(); print(r.n_events)"
"""

import os
import sys

import h5py
import numpy as np

# The parameter set, twice: as TOML text and as one attribute per key (docs/model.md).
PARAMS = {
    "lattice": {"dim": 2, "L": 4, "spacing": 1.0},
    "softness": {"mean": -1.0, "variance": 1.0, "C1": 0.3, "xi": 1.0},
    "rates": {"level": "observed", "A": 0.05, "gamma": 1.0, "delta": 0.05, "duration": 4.0},
    "kick": {"sigma0": 0.6, "sigma1": 0.4, "xi_sigma": 1.0, "rho1": 0.3, "xi_rho": 1.0, "facilitation": 1.0},
    "cluster": {"shape": "site"},
}


def toml_text(params):
    fmt = lambda v: f'"{v}"' if isinstance(v, str) else repr(v)  # noqa: E731
    return "".join(f"[{s}]\n" + "".join(f"{k} = {fmt(v)}\n" for k, v in kv.items()) + "\n" for s, kv in params.items())


def fake_trajectory(N, n_events, rng):
    """Another implementation's output: S0, event times/clusters, and each event's changes."""
    S0 = rng.normal(-1.0, 1.0, N)
    times = np.cumsum(rng.exponential(0.1, n_events))
    clusters = rng.integers(0, N, n_events)
    S, sites, before, after = S0.copy(), [], [], []
    for c in clusters:
        s = (c + np.arange(-1, 2)) % N
        new = S[s] + 0.3 * rng.normal(size=s.size)
        sites.append(s), before.append(S[s].copy()), after.append(new)
        S[s] = new
    offsets = np.concatenate(([0], np.cumsum([s.size for s in sites])))
    return S0, times, clusters, offsets, np.concatenate(sites), np.concatenate(before), np.concatenate(after), S


def write_run(path, n_events=200, seed=1):
    N = PARAMS["lattice"]["L"] ** PARAMS["lattice"]["dim"]
    S0, t, cl, off, sites, before, after, S_end = fake_trajectory(N, n_events, np.random.default_rng(seed))
    # Write to a temporary name and rename at the end, so no half-written file carries the name.
    tmp = f"{path}.tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs.update(format="trsp-run", format_version="1.0", implementation="toy-numpy",
                       implementation_version="0.0", created="2024-01-01T00:00:00+00:00", mode="full")
        g = f.create_group("params")
        g.attrs["toml"] = toml_text(PARAMS)
        for section, kv in PARAMS.items():
            f.create_group(f"params/{section}").attrs.update(kv)  # ints -> int64, floats -> float64
        f.create_group("truncation").attrs.update(kick_radius=np.inf, precision_radius=np.inf, tolerance=0.0)
        f.create_dataset("initial/S", data=S0)
        f["initial"].attrs["t0"] = 0.0
        ev = f.create_group("events")
        for name, data in dict(time=t, cluster=cl.astype(np.int64), change_offsets=off.astype(np.int64),
                               change_sites=sites.astype(np.int64), before=before, after=after).items():
            ev.create_dataset(name, data=data)
        # Snapshots at t = 0, 1, 2, ...: the state after the last event with time <= t.
        snap_t = np.arange(0.0, np.floor(t[-1]) + 1.0)
        snap_S = []
        for ts in snap_t:
            S = S0.copy()
            n = np.searchsorted(t, ts, side="right")
            for e in range(n):
                S[sites[off[e]:off[e + 1]]] = after[off[e]:off[e + 1]]
            snap_S.append(S)
        f.create_dataset("snapshots/time", data=snap_t)
        f.create_dataset("snapshots/S", data=np.array(snap_S).reshape(-1, N))
        f["snapshots"].attrs["interval"] = 1.0
        f.create_dataset("checkpoint/S", data=S_end)  # the state after the last event
        f["checkpoint"].attrs.update(time=t[-1], n_events=np.int64(n_events), n_changes=np.int64(sites.size),
                                     n_snapshots=np.int64(snap_t.size), status="finished")
    os.replace(tmp, path)


if __name__ == "__main__":
    write_run(sys.argv[1] if len(sys.argv) > 1 else "toy_run.h5")
