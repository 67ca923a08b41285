"""The HTTP API serving city data to dashboards and open-data portals."""
