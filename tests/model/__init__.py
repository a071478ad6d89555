"""Tests for apibridge.model."""
