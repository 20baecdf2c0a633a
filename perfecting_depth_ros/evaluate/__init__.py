"""Benchmark: metrics, classical baselines, reports."""
