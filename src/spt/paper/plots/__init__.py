"""Figures of the paper, one function per figure, in the style of `spt.paper.plots.style`."""
