"""The run's manifests: manifest.json, MANIFEST.b3 and its minisign signature."""
