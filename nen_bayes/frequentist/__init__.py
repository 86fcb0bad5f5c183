"""The frequentist layer, with R ``survival``'s conventions: Kaplan-Meier (:mod:`.km`), log-rank
tests (:mod:`.logrank`), Cox models (:mod:`.cox`), RMST (:mod:`.rmst`), response rates
(:mod:`.response`), the cohort description (:mod:`.describe`) and the whole frequentist analysis
of an endpoint (:mod:`.baselines`).

Depends on cohorts and the base modules; never on the Bayesian layer.
"""
