"""The case study: radioembolization (RE) for liver metastases of neuroendocrine neoplasms (NEN).

Its cohort contract (:data:`RE_NEN`), the generator of the bundled synthetic cohort, the
published figures it is calibrated against (``calibration.toml``), the published p-values next
to the reproduced ones, and the published line comparison reanalysed from its numbers alone.
Nothing below this package knows of the case study.
"""

from nen_bayes.re_nen.contract import LINE_CONTRAST, RE_NEN, RECIST_LEVELS

__all__ = ["LINE_CONTRAST", "RECIST_LEVELS", "RE_NEN"]
