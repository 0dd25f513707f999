import sys
from pathlib import Path

# Test helpers (tests/services.py, stand-in servers) import as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))
