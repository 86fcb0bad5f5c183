"""The Bayesian model layer: priors as data (:mod:`.priors`), model specification files
(:mod:`.spec`), design matrices (:mod:`.design`), the survival families (:mod:`.families`), the
PyMC graph (:mod:`.model`), predictions from stored draws (:mod:`.predict`) and sampling into a
DataTree (:mod:`.inference`): ``spec -> design -> build_model -> fit``.

Depends on cohorts and the base modules; never on the frequentist layer. PyMC, PyTensor and
xarray are imported inside the functions that need them.
"""
