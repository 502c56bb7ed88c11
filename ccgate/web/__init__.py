"""The local dashboard (/ccgate/), its read-only JSON API (/ccgate/api/) and Prometheus metrics (/ccgate/metrics)."""
