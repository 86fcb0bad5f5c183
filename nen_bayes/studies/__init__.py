"""Simulation studies: simulation-based calibration, operating characteristics and assurance."""
