"""Settings: base.py (embedded defaults), production.py (requires secrets), test.py."""
