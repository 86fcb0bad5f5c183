"""Cohort input: the column contract (:mod:`.schema`), reading files as they are (:mod:`.read`),
every rule of the contract (:mod:`.validate`) and the validated :class:`~.cohort.Cohort`.

Depends only on the base modules. Nothing here knows of any model, test or case study.
"""
