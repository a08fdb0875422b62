"""Thin DVC stage entry points: read params and inputs, call agingset, write outputs atomically."""
