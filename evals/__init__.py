"""Evaluation suites, judges, the runner and reports.

Imported as ``pakati.evals``.
"""
