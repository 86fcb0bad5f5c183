"""How conclusions depend on the prior: the prior grid (:mod:`.grid`), refits of one compiled
model under every prior (:mod:`.refits`), and the summary-level reanalysis of a published result
(:mod:`.summary_level`).
"""
