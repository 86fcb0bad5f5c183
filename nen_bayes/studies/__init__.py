"""Simulation studies: many seeded fits of simulated cohorts, on a Dask cluster.

A kind of study (simulation-based calibration, operating characteristics, assurance) plans its
tasks, simulates and fits one task, and summarises the table of finished tasks;
:mod:`nen_bayes.studies.engine` runs the plan on a cluster (a LocalCluster by default), streams
the rows to Parquet, resumes a killed study and records failed tasks.
"""
