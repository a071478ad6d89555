"""Tests for apibridge.kubeovn."""
