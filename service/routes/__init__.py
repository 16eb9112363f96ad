"""HTTP and WebSocket routes; each module owns one group of endpoints."""
