"""Outcome figures and spreadsheet exports (``dialer.reports.export``, which needs pandas)."""

from __future__ import annotations

from dialer.reports.metrics import CampaignMetrics, campaign_metrics, run_summary

__all__ = ["CampaignMetrics", "campaign_metrics", "run_summary"]
