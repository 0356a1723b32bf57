"""Snakemake adapter: the asteroseismic catalogue from VizieR, or from a local table.

A local table is used when ``file`` is set and non-empty (config ``vizier.seismic.file``, or
``params.seismic["file"]`` when the rule passes ``params.seismic``, which wins); its columns
go through ``columns`` when given, else the preset's mapping, else the table's own names.
"""

import _bootstrap  # noqa: F401  (puts src/ on sys.path)

from spt.logs import log_to
from spt.sources.vizier import fetch_seismic, fetch_seismic_file, seismic_preset


def seismic_choice(smk) -> dict:
    """The seismic settings: ``vizier.seismic``, updated by ``params.seismic`` when passed."""
    extra = smk.params.get("seismic", None) or {}
    return {**dict(smk.params.vizier["seismic"]), **dict(extra)}


def main(smk) -> None:
    with log_to(smk.log[0]):
        viz = smk.params.vizier
        choice = seismic_choice(smk)
        options = {
            "timeout": viz["timeout_s"],
            "retries": viz["retries"],
            "backoff": viz["backoff_s"],
        }
        local = str(choice.get("file") or "").strip()
        if local:
            preset = seismic_preset(choice["preset"]) if choice.get("preset") else {}
            columns = choice.get("columns") or preset.get("columns")
            fetch_seismic_file(local, viz["server"], columns, smk.output[0], **options)
            return
        spec = seismic_preset(choice["preset"]) if choice.get("preset") else choice
        fetch_seismic(spec["catalog"], viz["server"], spec["columns"], smk.output[0], **options)


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
