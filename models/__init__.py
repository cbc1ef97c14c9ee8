"""Shipped ONNX models and their model cards (data, not code)."""
