"""Evaluation: scoring variants, statistics, pooling over seeds, the report, replication."""
