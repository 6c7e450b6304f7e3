"""Closed-form d<S>/dt at t = 0+ after T_I = 1.0 -> T_F (trsp_obs.quench_rate), for the preset and variants
(docs/reproduction.md, "Why the TRSP aging curves come out in the opposite order").  Run from the
repository root: python3 docs/results/quench_rates.py  (writes docs/results/quench_rates.json; ~1 CPU-minute).
Dense oracle on a 3D L = 8 lattice (the kick is local; the preset's L = 20 is too big for it)."""
import sys, json
sys.path.insert(0, ".")  # run from the repository root
from trsp_obs.presets import preset_dict
from trsp_obs.quench_rate import trsp_quench_rate, trap_quench_rate
from trsp_obs.runs import mean_softness
from trsp_ref.params import params_from_dict

VARIANTS = {
    "preset": {},
    "S-independent rates (eps1 = eps2 = 0)": {"temperature": {"eps1": 0.0, "eps2": 0.0}},
    "site clusters (m = 1)": {"cluster": {"shape": "site"}},
    "wide kick (sigma1 = 1.5)": {"kick": {"sigma1": 1.5}},
}
extra = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
VARIANTS.update(extra)
out = {}
for name, over in VARIANTS.items():
    rows = []
    for TF in (0.42, 0.47, 0.55):
        d = preset_dict("ka_illustrative"); d["lattice"]["L"] = 8; d["temperature"]["T"] = TF
        for sec, upd in over.items():
            d.setdefault(sec, {}).update(upd)
        p = params_from_dict(d)
        mu_I = mean_softness(p, 1.0)
        q, t = trsp_quench_rate(p, mu_I), trap_quench_rate(p, mu_I)
        rows.append(dict(T_F=TF, trsp_rate=q.rate, trsp_event_rate=sum(q.event_rate), trsp_per_event=sum(q.per_event) / len(q.per_event),
                         trap_rate=t.rate, trap_event_rate=t.event_rate[0], trap_per_event=t.per_event[0], drive=q.drive))
        print(name, {k: round(v, 5) for k, v in rows[-1].items()}, flush=True)
    out[name] = rows
json.dump(out, open("docs/results/quench_rates.json", "w"), indent=1)
