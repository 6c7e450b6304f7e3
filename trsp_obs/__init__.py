"""trsp_obs: dynamical-heterogeneity observables, aging, ensembles on Dask, presets and figures.

Modules
-------
lattice        cluster id -> sites (docs/model.md), |q| shells, block filters
overlap        per-replica origin averages from an event log (Q, Q^2, |Q~(q)|^2, block variances)
heterogeneity  replicas -> Q(t), chi_4(t), tau_chi, chi_4*, S_4(q), xi_4 (OZ and blocks), bootstrap errors
softness_memory  C_SS(t) = <dS_i(t0) dS_i(t0+t)> / sigma^2 and tau_S (C_SS = 1/e)
quench_rate    closed-form d<S>/dt at t = 0+ after a quench (TRSP and trap model)
aging          quenches T_I -> T_F: <S>(t); the independent-site trap model for comparison
runs           running members with trsp_fast (equilibrium and aging)
runfiles       event logs and <S>(t) from HDF5 run files (trsp_runfile.runfile)
presets        the ILLUSTRATIVE Kob-Andersen-like parameter set
sweep          package: sweep files (config), typed members (members), the resumable store (store), Dask (execute), the sweep HDF5 file (assemble)
plots          the paper-style figures from a sweep or summary file (or a folder with figures.toml)
summaries      trsp summarize: a sweep file without its bulky per-member spatial arrays
"""
