"""The registry of experiment blocks: name -> run(mode, seeds, rows_path, log, overrides)."""
from __future__ import annotations

from . import fig2, lstm_blocks, patterns4, table2
from ._common import RowSink


def _block(run, configs, sources):
    def block(mode, seeds, rows_path, log, overrides=None):
        cfg = dict(configs[mode])
        cfg.update({k: v for k, v in (overrides or {}).items() if k in cfg})
        n_seeds = seeds or cfg["seeds"]
        sink = RowSink(rows_path)
        run(cfg, n_seeds, sink, log)
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
        settings["seeds"] = n_seeds
        settings["sources"] = sources
        return sink.rows, settings
    return block


BLOCKS = {
    "fig2": _block(fig2.run_fig2, fig2.FIG2, fig2.SOURCES),
    "fig3": _block(fig2.run_fig3, fig2.FIG3, fig2.SOURCES),
    "table2": _block(table2.run_table2, table2.TABLE2, table2.SOURCES),
    "seqdigits": _block(lstm_blocks.run_seqdigits, lstm_blocks.SEQDIGITS,
                        lstm_blocks.SOURCES_DIGITS),
    "copyrepeat": _block(lstm_blocks.run_copyrepeat, lstm_blocks.COPYREPEAT,
                         lstm_blocks.SOURCES_COPY),
    "patterns4": _block(patterns4.run_patterns4, patterns4.PATTERNS4, patterns4.SOURCES),
}
