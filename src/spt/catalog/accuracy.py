"""How well the catalogue holds on the mock survey, where the noise-free truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spt.io.predictions import LABELS
from spt.model.flags import Flag
from spt.model.uncertainty import STATE_COVARIATE, coverage
from spt.validation.evaluate import clump_bins
from spt.validation.metrics import delta_p


def accuracy_against_truth(catalog: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per group of catalogue rows: count, Delta_P, 1/2-sigma coverage against the truth and,
    where the catalogue has them, the share of true values inside ``[{label}_p16, _p84]``.

    Only the labels the catalogue predicts are scored. Groups: every predicted row; unflagged
    rows; unflagged rows of in-domain giants (truth ``domain == "in"``); unflagged
    out-of-domain rows; and the share of out-of-domain (in-domain) stars that carry a flag,
    also for the in-domain giants without an injected anomaly (truth ``anomaly`` empty), the
    ones the test split's flag rate compares with (its anomalous spectra were cut).
    When the truth draws in-domain giants from more than one ``population`` (a shifted one,
    `catalog.field_survey.shifted_fraction`), the in-domain groups are also given per
    population ("... giants, shifted population"), so a shift's cost shows beside the base.
    With a ``p_red_clump`` column, the unflagged in-domain giants are also given per bin of
    it (`spt.validation.evaluate.clump_bins`): the state a survey star's row tells.
    """
    labels = [k for k in LABELS if k in catalog.columns and k in truth.columns]
    extra = [c for c in ("population", "anomaly") if c in truth]
    joined = catalog.merge(truth[["obsid", "domain", *extra, *labels]].rename(
        columns={k: f"{k}_truth" for k in labels}), on="obsid", how="inner")  # fmt: skip
    predicted = np.isfinite(joined[labels].to_numpy(float)).all(axis=1)
    clean = predicted & ~joined["flag_warn"].astype(bool).to_numpy()
    inside = joined["domain"].to_numpy() == "in"
    groups = {
        "predicted": predicted,
        "unflagged": clean,
        "unflagged in-domain giants": clean & inside,
        "unflagged out-of-domain": clean & ~inside,
    }
    found = sorted(joined.loc[inside, "population"].unique()) if "population" in joined else []
    populations = found if len(found) > 1 else []  # one population: nothing to split
    for name in populations:
        groups[f"unflagged in-domain giants, {name} population"] = (
            clean & inside & (joined["population"].to_numpy() == name)
        )
    if STATE_COVARIATE in joined:
        for name, mask in clump_bins(joined[STATE_COVARIATE].to_numpy(float)).items():
            groups[f"unflagged in-domain giants, {name}"] = clean & inside & mask
    rows = []
    for name, mask in groups.items():
        row: dict[str, object] = {"group": name, "n": int(mask.sum())}
        for label in labels:
            pred = joined.loc[mask, label].to_numpy(float)
            true = joined.loc[mask, f"{label}_truth"].to_numpy(float)
            sigma = joined.loc[mask, f"{label}_err"].to_numpy(float)
            row[f"{label}_delta_p"] = delta_p(pred, true) if mask.any() else np.nan
            row[f"{label}_within_1sigma"] = coverage(pred - true, sigma) if mask.any() else np.nan
            row[f"{label}_within_2sigma"] = (
                coverage(pred - true, 2 * sigma) if mask.any() else np.nan
            )
            if f"{label}_p16" in joined and mask.any():
                lo, hi = (joined.loc[mask, f"{label}_{q}"].to_numpy(float) for q in ("p16", "p84"))
                row[f"{label}_within_p16_p84"] = float(np.mean((true >= lo) & (true <= hi)))
        rows.append(row)
    ood = ~inside
    rows.append({"group": "out-of-domain flagged (recall)", "n": int(ood.sum()),
                 "fraction": float(joined.loc[ood, "flag_warn"].astype(bool).mean())
                 if ood.any() else np.nan})  # fmt: skip
    rows.append({"group": "in-domain flagged", "n": int(inside.sum()),
                 "fraction": float(joined.loc[inside, "flag_warn"].astype(bool).mean())
                 if inside.any() else np.nan})  # fmt: skip
    if "anomaly" in joined:  # the in-domain giants whose spectrum the mock left intact
        intact = inside & joined["anomaly"].fillna("").astype(str).str.strip().eq("").to_numpy()
        rows.append({"group": "in-domain flagged, no injected anomaly", "n": int(intact.sum()),
                     "fraction": float(joined.loc[intact, "flag_warn"].astype(bool).mean())
                     if intact.any() else np.nan})  # fmt: skip
    for name in populations:
        members = inside & (joined["population"].to_numpy() == name)
        share = float(joined.loc[members, "flag_warn"].astype(bool).mean())
        rows.append({"group": f"in-domain flagged, {name} population",
                     "n": int(members.sum()), "fraction": share})  # fmt: skip
    return pd.DataFrame(rows)


def flag_capture(catalog: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """What the quality flags catch on the mock, where each star's domain is known.

    Rows ``kind == "bit"``: per flag bit (and ``flag_warn``, ``flag_bad``) how many rows it
    fires on, its precision (share of those that are out-of-domain stars), its recall (share of
    out-of-domain stars it fires on) and its rate on in-domain stars. Rows ``kind ==
    "domain"``: per injected kind of star (truth ``domain``), the share carrying ``flag_warn``
    and ``flag_bad``. Spectra with an injected anomaly count as in-domain giants.
    """
    joined = catalog[["obsid", "flag", "flag_warn", "flag_bad"]].merge(
        truth[["obsid", "domain"]].drop_duplicates("obsid"), on="obsid", how="inner"
    )
    ood = joined["domain"].to_numpy() != "in"
    flag = joined["flag"].to_numpy(np.int64)
    fired = {bit.name: (flag & int(bit)) != 0 for bit in Flag}
    fired["flag_warn"] = joined["flag_warn"].to_numpy(bool)
    fired["flag_bad"] = joined["flag_bad"].to_numpy(bool)
    rows: list[dict[str, object]] = []
    for name, mask in fired.items():
        n = int(mask.sum())
        rows.append({
            "kind": "bit", "name": name, "n": n,
            "precision": float(np.mean(ood[mask])) if n else np.nan,
            "recall": float(np.mean(mask[ood])) if ood.any() else np.nan,
            "in_domain_rate": float(np.mean(mask[~ood])) if (~ood).any() else np.nan,
        })  # fmt: skip
    for domain, part in joined.groupby("domain", sort=True):
        rows.append({
            "kind": "domain", "name": str(domain), "n": len(part),
            "warn_fraction": float(part["flag_warn"].astype(bool).mean()),
            "bad_fraction": float(part["flag_bad"].astype(bool).mean()),
        })  # fmt: skip
    return pd.DataFrame(rows)
