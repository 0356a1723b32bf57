"""Snakemake adapter: software versions of this rule's environment, or the merged config."""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.paper.provenance import write_config, write_software_versions


def main(smk) -> None:
    with log_to(smk.log[0]):
        if smk.rule == "config_used":
            write_config(smk.params.config, smk.output[0])
        else:
            write_software_versions(smk.output[0], extra=smk.params.extra)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
