"""The benchmark app for peer frameworks (optional; measured with ``--peers`` when importable)."""
