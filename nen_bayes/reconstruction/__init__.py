"""Patient-level data from published Kaplan-Meier figures (Guyot et al. 2012): input checks and
listed corrections, the algorithm and its accuracy report (:mod:`.guyot`), and its round trips on
real public cohorts (:mod:`.roundtrip`). Uses the frequentist layer's Kaplan-Meier only.
"""
