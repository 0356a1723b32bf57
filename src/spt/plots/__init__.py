"""Figures of the paper, one function per figure, all in the shared style of `spt.plots.style`."""
