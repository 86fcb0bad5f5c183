"""What a fit says: posterior effects and the prior predictive check (:mod:`.summary`), run
cards and PSIS-LOO (:mod:`.diagnostics`), power-scaling sensitivity (:mod:`.power_scaling`),
model comparison with Cox side by side (:mod:`.compare`), and contrasts with g-computation
(:mod:`.contrast`).

Reads stored fits (DataTrees); may use the frequentist and Bayesian layers below it.
"""
