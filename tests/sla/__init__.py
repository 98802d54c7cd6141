"""Tests of services/sla: working time, deadlines, regimes, warnings, escalation, the countdown."""
