"""trsp_ref: the dense, obviously-correct reference oracle for TRSP models (Ridout & Liu).

Slow on purpose: every quantity is built as a dense N x N matrix with the plainest
formula that is right. ``trsp_fast`` is checked against it.
"""
from .params import ParameterError, Params, load_params, params_from_dict  # noqa: F401
from .model import ReferenceModel, validate  # noqa: F401

__version__ = "0.1.0"
