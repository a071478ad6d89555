"""Tests for apibridge.plan."""
