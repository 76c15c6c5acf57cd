"""BP(λ): online RNN learning with synthetic gradients trained by TD(λ) traces.

Pemberton & Costa, "BP(λ): Online Learning via Synthetic Gradients", TMLR 2024.
Kernels (:mod:`.traces`), the forward-view targets (:mod:`.targets`), the
vanilla-RNN and LSTM learners, the BPTT / truncated BPTT / DNI baselines and
the line-drawing toy task.
"""
from .baselines import DNIRNN, TruncatedBPTTRNN, windows
from .lstm import LSTM, BPLambdaLSTM
from .model import VanillaRNN
from .rnn import BPLambdaRNN
from .synthesiser import (ConditionedSynthesiser, LinearSynthesiser, clip_unit_norm,
                          sequence_context)
from .synthesiser_mlp import DenseTrace, MLPSynthesiser
from .tasks import LineDrawTask
from .targets import future_gradients, lambda_targets, td_errors
from .traces import (EligibilityTrace, limit_blas_threads, trace_add_diag, trace_contract,
                     trace_shape, trace_step)

__all__ = [
    "BPLambdaLSTM", "BPLambdaRNN", "ConditionedSynthesiser", "DNIRNN", "DenseTrace",
    "MLPSynthesiser", "LSTM", "LineDrawTask", "EligibilityTrace", "LinearSynthesiser",
    "TruncatedBPTTRNN", "VanillaRNN", "clip_unit_norm", "future_gradients", "lambda_targets",
    "limit_blas_threads", "sequence_context", "td_errors", "trace_add_diag", "trace_contract",
    "trace_shape", "trace_step", "windows",
]
