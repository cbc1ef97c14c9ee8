"""The trainer: harvests labeled photos, trains, calibrates and exports ONNX models."""
