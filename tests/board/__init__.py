"""Tests of services/board: figures, ranking, worklist, hot spots, snapshots, export, digest."""
