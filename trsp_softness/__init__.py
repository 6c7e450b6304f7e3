"""Softness from particle trajectories (Sec. II and Appendix A of the paper).

One concept per module: :mod:`~trsp_softness.p_hop` (the rearrangement indicator),
:mod:`~trsp_softness.definitions` (which structure functions), :mod:`~trsp_softness.neighbours`
(freud neighbour lists), :mod:`~trsp_softness.kernels` (the Numba kernels),
:mod:`~trsp_softness.structure` (structure functions of a frame), :mod:`~trsp_softness.relaxation`
(tau_alpha from F_s), :mod:`~trsp_softness.training_set` (examples), :mod:`~trsp_softness.classifier`
(the linear SVM), :mod:`~trsp_softness.model_file` (the model file), :mod:`~trsp_softness.train` and
:mod:`~trsp_softness.apply` (the two jobs behind `trsp softness train` / `apply`).
"""
