"""The RE/NEN cohort contract: the columns of a radioembolization (RE) cohort of
neuroendocrine-neoplasm (NEN) liver metastases, as :class:`~nen_bayes.cohorts.schema.CohortSchema`.

========================  ==========================================================
column                    content
========================  ==========================================================
``patient_id``            unique identifier of the analysed unit
``centre``                treating centre (the grouping level of hierarchical models)
``os_months/os_event``    overall survival: months from RE; 1 = death, 0 = censored
``hpfs_months/_event``    hepatic progression-free survival (hepatic progression or death)
``pfs_months/_event``     global progression-free survival (any progression or death)
``*pfs_lower/_upper``     optional: the interval in which progression happened (months; the
                          last scan without and the first scan with it; ``upper`` empty =
                          right-censored at ``lower``; ``lower == upper`` an exact time, e.g.
                          death); when present the Bayesian fits use the interval likelihood
``line``                  ``second_line`` or ``salvage`` (further levels when declared)
``grade``                 ``G1`` < ``G2`` < ``G3`` (ordered)
``tumour_burden``         ``low`` < ``intermediate`` < ``high`` (ordered; hepatic burden)
``extrahepatic``          ``no`` / ``yes``
``vascularisation``       ``hypervascular`` / ``isovascular`` / ``hypovascular``
``recist_3m/_12m``        RECIST 1.1 category ``CR``/``PR``/``SD``/``PD`` or missing
========================  ==========================================================

Global progression is the first of hepatic progression, extrahepatic progression and death, so a
consistent unit has ``pfs_months <= hpfs_months <= os_months``.
"""

from __future__ import annotations

from nen_bayes.cohorts.schema import CohortSchema, Endpoint, Factor
from nen_bayes.settings import Contrast

__all__ = ["LINE_CONTRAST", "RECIST_LEVELS", "RE_NEN"]

RECIST_LEVELS = ("CR", "PR", "SD", "PD")

#: The radioembolization / neuroendocrine-neoplasm cohort contract (see the module docstring).
RE_NEN = CohortSchema(
    name="RE/NEN",
    id_column="patient_id",
    centre_column="centre",
    endpoints=(
        Endpoint("os", "os_months", "os_event", "overall survival"),
        Endpoint("hpfs", "hpfs_months", "hpfs_event", "hepatic progression-free survival",
                 lower="hpfs_lower", upper="hpfs_upper", interval_optional=True),
        Endpoint("pfs", "pfs_months", "pfs_event", "global progression-free survival",
                 lower="pfs_lower", upper="pfs_upper", interval_optional=True),
    ),
    factors=(
        Factor("line", ("second_line", "salvage"), reference="second_line",
               label="treatment line of RE"),
        Factor("grade", ("G1", "G2", "G3"), ordered=True, label="tumour grade (WHO)"),
        Factor("tumour_burden", ("low", "intermediate", "high"), ordered=True,
               label="hepatic tumour burden"),
        Factor("extrahepatic", ("no", "yes"), label="extrahepatic metastases"),
        Factor("vascularisation", ("hypervascular", "isovascular", "hypovascular"),
               label="angiographic vascularisation pattern"),
    ),
    responses=(
        Factor("recist_3m", RECIST_LEVELS, label="RECIST 1.1 at 3 months"),
        Factor("recist_12m", RECIST_LEVELS, label="RECIST 1.1 at 12 months"),
    ),
    time_unit="months",
    nested=(("pfs", "os"), ("hpfs", "os"), ("pfs", "hpfs")),
    nested_reason="by definition global PFS <= hepatic PFS <= OS",
    optional=frozenset(
        {"os", "hpfs", "pfs", "line", "grade", "tumour_burden", "extrahepatic",
         "vascularisation", "recist_3m", "recist_12m"}
    ),
)


#: The case study's question: RE as second line vs salvage (HR < 1 favours second line).
LINE_CONTRAST = Contrast("line", "second_line", "salvage")
